"""``invoice-ops`` commands that feed and run the pipeline and report on it.

``validate-config`` (thresholds file), ``demo`` (generate and materialise known anomalies), ``run``
(materialise a day or a range in-process), ``ingest`` (files into the inbox queue) and ``summary``
(the run summary of a day or window). Each is a thin wrapper over library functions.

Not for: incident handling (``commands/incidents.py``), the API server, health, status, tokens and
smoke (``commands/service.py``), or the group they are registered on (``invoice_assets/cli.py``).
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from invoice_assets.commands.common import (
    EXIT_FAIL,
    EXIT_INVALID,
    EXIT_OK,
    cli_tags,
    emit,
    fail,
    parse_day,
    partition_day,
    progress,
    require_settings,
    require_thresholds,
)
from invoice_assets.services.settings import Settings

if TYPE_CHECKING:
    from invoice_assets.services.materialise import RunOutcome


@click.command("validate-config")
@click.option("--file", "path", type=click.Path(dir_okay=False), help="Validate this file instead.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def validate_config(path: str | None, as_json: bool) -> None:
    """Validate config/thresholds.yaml and overrides; exit 0 valid, 2 invalid."""
    from resources.thresholds import check_thresholds

    model, violations, source = check_thresholds(path)
    report = {
        "valid": model is not None,
        "source": source,
        "violations": [v.as_dict() for v in violations],
    }
    lines = [f"{'OK' if model else 'INVALID'}: {source}"]
    lines += [f"  - {v}" for v in violations]
    if model is not None:
        lines.append(f"  {len(model.flat())} thresholds valid")
    emit(report, as_json, "\n".join(lines))
    sys.exit(EXIT_OK if model is not None else EXIT_INVALID)


def _materialise_or_exit(work: Callable[[], list[RunOutcome]]) -> list[RunOutcome]:
    """The runs' outcomes; a slot wait that timed out exits 1, an interrupted one 128 + the
    signal's number, each with what it waited for."""
    from invoice_assets.services.pool_slots import SlotWaitInterrupted, SlotWaitTimeout

    try:
        return work()
    except SlotWaitTimeout as exc:
        fail(str(exc), EXIT_FAIL)
    except SlotWaitInterrupted as exc:
        fail(f"interrupted: {exc}", 128 + exc.signum if exc.signum else EXIT_FAIL)
    raise AssertionError("unreachable")


@click.command()
@click.option("--days", default=3, show_default=True, type=click.IntRange(1, 366))
@click.option(
    "--invoices-per-day", default=50, show_default=True, type=click.IntRange(1, 1_000_000)
)
@click.option("--seed", default=7, show_default=True, type=int)
@click.option("--end-date", default=None, help="Last inbox day (default: yesterday, Istanbul).")
@click.option("--json", "as_json", is_flag=True)
def demo(days: int, invoices_per_day: int, seed: int, end_date: str | None, as_json: bool) -> None:
    """Generate invoices with known anomalies, materialise every day, print the summary."""
    from invoice_assets.demo import generate_demo
    from invoice_assets.services.materialise import instance_for, materialise
    from invoice_assets.services.reporting import build_run_summary

    t = require_thresholds()
    settings = require_settings()
    # imported once the thresholds are known good (the module builds the location's defs)
    from invoice_assets.definitions import build_definitions

    last = date.fromisoformat(partition_day(end_date, "--end-date"))
    window = [(last - timedelta(days=days - 1 - i)).isoformat() for i in range(days)]
    partition_day(window[0], "the first demo day (--end-date minus --days)")
    progress(f"generating {days} day(s) × {invoices_per_day} invoices into {settings.inbox}")
    manifest = generate_demo(settings.inbox, window, invoices_per_day, seed=seed)
    wait = t.Recovery.STUCK_MINUTES * 60.0
    outcomes = _materialise_or_exit(
        lambda: materialise(
            window,
            instance_for(settings),
            defs=build_definitions(),  # this environment's, now (not the module's first)
            progress=progress,
            tags=cli_tags(operator=None),
            slot_wait_seconds=wait,
        )
    )
    documents = _demo_documents(settings, window[0], seed, wait)
    store = settings.store()
    summary = build_run_summary(store, window[0], window[-1], t)
    injected = manifest.counts()
    expected = manifest.expected_incidents()
    found = summary["counts"]["incident_count"]
    result = {
        "days": window,
        "runs_ok": all(o.success for o in outcomes),
        "injected": injected,
        "expected_incidents": expected,
        "summary": summary,
        "matches_injected": found == expected,
        "documents": documents,
    }
    text = "\n".join(
        [
            f"store: {store.url.split('@')[-1]}",
            f"days: {window[0]} .. {window[-1]} ({len(window)} runs, "
            f"{'all ok' if result['runs_ok'] else 'SOME FAILED'})",
            f"injected anomalies: {injected}",
            f"incidents: {found} (expected from injected anomalies: {expected})",
            _summary_text(summary),
            _documents_text(documents),
            "next: `make dev` to browse the lineage, `invoice-ops status` for the five questions",
        ]
    )
    emit(result, as_json, text)
    documents_ok = documents is None or documents["runs_ok"]
    ok = result["runs_ok"] and result["matches_injected"] and documents_ok
    sys.exit(EXIT_OK if ok else EXIT_FAIL)


def _demo_documents(
    settings: Settings, first_day: str, seed: int, wait: float
) -> dict[str, Any] | None:
    """PDF and UBL-TR XML invoices on the day before the demo's days (their own day, so the
    demo's figures stay those of its records), materialised and read offline: what each file
    gave. None when that day is not a partition."""
    from invoice_assets.definitions import build_definitions
    from invoice_assets.demo.documents import write_documents
    from invoice_assets.services.materialise import instance_for, materialise

    day = (date.fromisoformat(first_day) - timedelta(days=1)).isoformat()
    first = settings.layout().partitions.get_first_partition_key()
    if first is None or day < first:
        return None
    progress(f"writing demo documents (PDF, UBL-TR XML, zip) into {settings.inbox / day}")
    names = write_documents(settings.inbox / day, day, seed)
    outcomes = _materialise_or_exit(
        lambda: materialise(
            [day],
            instance_for(settings),
            defs=build_definitions(),
            progress=progress,
            tags=cli_tags(operator=None),
            slot_wait_seconds=wait,
        )
    )
    rows = settings.store().read_stage("extractions", [day])
    files = []
    for name in names:
        mine = rows[rows["source_file"] == name]
        files.append(
            {
                "file": name,
                "invoices": len(mine),
                "ok": int(mine["status"].eq("ok").sum()),
                "kwh": [float(v) for v in mine["consumption_kwh"].dropna()],
            }
        )
    return {"day": day, "runs_ok": all(o.success for o in outcomes), "files": files}


def _documents_text(documents: dict[str, Any] | None) -> str:
    if documents is None:
        return "documents: none (the day before the demo is not a partition)"
    lines = [f"documents read offline on {documents['day']}:"]
    for f in documents["files"]:
        kwh = ", ".join(f"{v:,.3f}" for v in f["kwh"])
        lines.append(f"  {f['file']}: {f['ok']}/{f['invoices']} invoice(s) read, kWh {kwh}")
    return "\n".join(lines)


@click.command()
@click.option("--date", "first", required=True, help="Inbox day (YYYY-MM-DD).")
@click.option(
    "--to",
    "last",
    default=None,
    help="Last day of a range: one run for the range, or one per day when "
    "INVOICE_BACKFILL_POLICY=per_day.",
)
@click.option("--operator", default=None, help="Who runs it (run tag; default: your user name).")
@click.option(
    "--wait-seconds",
    type=click.FloatRange(min=0),
    default=None,
    help="Give up (exit 1) when no pool slot frees within this long "
    "[default: Recovery.STUCK_MINUTES].",
)
def run(first: str, last: str | None, operator: str | None, wait_seconds: float | None) -> None:
    """Materialise a day, or a range, in-process (as the schedule would).

    Runs whose process died are marked failed and their pool slots freed first; waiting for a
    slot held by a live run ends after --wait-seconds (exit 1) or on SIGTERM/SIGINT (exit 128 +
    the signal's number, no run started)."""
    from invoice_assets.services.materialise import day_range, instance_for, materialise
    from invoice_assets.services.partitions import SINGLE_RUN

    t = require_thresholds()
    settings = require_settings()
    # imported once the thresholds are known good (the module builds the location's defs)
    from invoice_assets.definitions import build_definitions

    try:
        days = day_range(
            partition_day(first, "--date"), partition_day(first if last is None else last, "--to")
        )
    except ValueError as exc:
        fail(str(exc))
    wait = t.Recovery.STUCK_MINUTES * 60.0 if wait_seconds is None else wait_seconds
    outcomes = _materialise_or_exit(
        lambda: materialise(
            days,
            instance_for(settings),
            defs=build_definitions(),  # this environment's, now (not the module's first)
            single_run=settings.backfill_policy == SINGLE_RUN,
            progress=progress,
            tags=cli_tags(operator),
            slot_wait_seconds=wait,
        )
    )
    for outcome in outcomes:
        if not outcome.success:
            where = ", ".join(outcome.failed_steps) or "no step (interrupted, or it never started)"
            fail(f"run {outcome.run_id} failed at {where}", EXIT_FAIL)
    click.echo(f"materialised {len(days)} day(s): {days[0]} .. {days[-1]}")


@click.command()
@click.option("--date", "day", required=True, help="Inbox day the files arrived (up to today).")
@click.option("--replace", is_flag=True, help="Replace a different file of the same name.")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
def ingest(day: str, replace: bool, files: tuple[str, ...]) -> None:
    """Copy invoice files into the inbox for a day and register them in the queue.

    All or none: a day outside the partitions, a special or hidden file, a file over the
    extraction size limit, two different files of one name, or a different file already in the
    day under that name (without --replace) exits 2 with nothing copied. A file already there
    with the same bytes is left as is.
    """
    from invoice_assets.domain.records import source_name
    from resources.extractor import InboxExtractor
    from resources.inbox import InboxResource
    from resources.inbox_ingest import IngestError

    day = partition_day(day, "--date", arrival=True)
    settings = Settings.from_env()
    inbox = InboxResource(path=str(settings.inbox))
    limit = InboxExtractor().max_file_bytes  # the limit extraction applies to the same files
    try:
        done = inbox.ingest(day, [Path(f) for f in files], limit, replace=replace)
    except IngestError as exc:
        fail(str(exc))
    store = settings.store()
    names = {source_name(path.name) for path, _ in done}
    changed = store.register_inbox(day, [e for e in inbox.list_files(day) if e.file_name in names])
    actions = Counter(action for _, action in done)
    detail = ", ".join(f"{n} {action}" for action, n in sorted(actions.items()))
    click.echo(
        f"ingested {len(done)} file(s) into {inbox.day_dir(day)} ({detail}; "
        f"{changed} new or changed in the queue)"
    )


def _summary_text(summary: dict[str, Any]) -> str:
    c, r, q = summary["counts"], summary["rates"], summary["queue"]
    p = summary["latency"]["pipeline_total_ms"]
    e = summary["errors"]
    return "\n".join(
        [
            f"period: {summary['period']['start']} .. {summary['period']['end']}",
            f"invoices: {c['total_invoices']}   incidents: {c['incident_count']} "
            f"(S1 {c['s1_count']}, S2 {c['s2_count']}, OCR suspect {c['ocr_suspect_count']})",
            f"rates: mismatch {r['mismatch_rate']:.2%}  s1 {r['s1_rate']:.2%}  "
            f"feedback coverage {r['feedback_coverage']:.2%}  "
            f"hint accuracy {r['hint_accuracy_rate']:.2%}",
            f"resolved: {c['resolved_count']}   feedback: {c['feedback_count']}",
            f"pipeline latency ms: p50 {p['p50']:.0f}  p95 {p['p95']:.0f}  p99 {p['p99']:.0f}",
            f"errors: 4xx {e['total_4xx']}  5xx {e['total_5xx']}  by code {e['by_code']}",
            f"queue: depth {q['current_depth']}  max {q['max_depth_in_period']}  "
            f"stuck {q['stuck_detected']}",
        ]
    )


@click.command()
@click.option("--date", "day", default=None, help="One inbox day (default: yesterday).")
@click.option("--start", default=None, help="First day of a window.")
@click.option("--end", default=None, help="Last day of a window (inclusive).")
@click.option("--json", "as_json", is_flag=True, help="The seed §6 JSON document.")
def summary(day: str | None, start: str | None, end: str | None, as_json: bool) -> None:
    """The run summary of a day or a window."""
    from invoice_assets.domain.summary import schema_errors
    from invoice_assets.services.reporting import build_run_summary

    t = require_thresholds()
    first = parse_day(day if start is None else start, "--date" if start is None else "--start")
    last = first if end is None else parse_day(end, "--end")
    if last < first:
        fail(f"--end {last} is before --start {first}")
    store = Settings.from_env().store()
    document = build_run_summary(store, first, last, t)
    problems = schema_errors(document)
    if problems:
        fail(f"summary violates the schema: {problems}", EXIT_FAIL)
    emit(document, as_json, _summary_text(document))
