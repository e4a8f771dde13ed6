"""``invoice-ops``: the operator's command line.

Thin commands over library functions; output goes through ``emit`` (text, or JSON with
``--json``), errors go to stderr. Exit codes: 0 success, 1 the thing checked is not OK (failed run,
not ready, smoke failure), 2 invalid input or configuration (bad config, bad arguments).
"""

from __future__ import annotations

import json
import sys
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import click

from invoice_assets.partitions import TIMEZONE
from invoice_assets.settings import Settings

if TYPE_CHECKING:
    from invoice_assets.api.settings import ApiSettings
    from resources.thresholds import Thresholds

EXIT_OK, EXIT_FAIL, EXIT_INVALID = 0, 1, 2


def emit(data: Any, as_json: bool, text: str | None = None) -> None:
    """The one printer: JSON for scripts, readable text for people."""
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))
    else:
        click.echo(
            text
            if text is not None
            else json.dumps(data, ensure_ascii=False, indent=2, default=str)
        )


def fail(message: str, code: int = EXIT_INVALID) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def progress(message: str) -> None:
    click.echo(message, err=True)


def yesterday() -> str:
    return (datetime.now(ZoneInfo(TIMEZONE)).date() - timedelta(days=1)).isoformat()


def _day(value: str | None) -> str:
    if value is None:
        return yesterday()
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        fail(f"not a date (YYYY-MM-DD): {value!r}")
        raise  # unreachable


def _thresholds() -> Thresholds:
    """The validated thresholds, or exit 2 listing every violation."""
    from resources.thresholds import check_thresholds

    model, violations, source = check_thresholds()
    if model is None:
        for violation in violations:
            click.echo(f"  {violation}", err=True)
        fail(f"{len(violations)} threshold violation(s) in {source}")
    assert model is not None
    return model


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Operate the invoice_assets pipeline (see RUNBOOK.md)."""
    import warnings

    # Dagster flags single-run backfill policies as beta on every load; operators need not see it.
    warnings.filterwarnings("ignore", message=r".*is currently in beta.*")


@main.command("validate-config")
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


@main.command()
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
    from invoice_assets.reports import build_run_summary
    from invoice_assets.runner import instance_for, materialise

    t = _thresholds()
    settings = Settings.from_env()
    last = date.fromisoformat(_day(end_date))
    window = [(last - timedelta(days=days - 1 - i)).isoformat() for i in range(days)]
    progress(f"generating {days} day(s) × {invoices_per_day} invoices into {settings.inbox}")
    manifest = generate_demo(settings.inbox, window, invoices_per_day, seed=seed)
    outcomes = materialise(window, instance_for(settings), progress=progress)
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
    }
    text = "\n".join(
        [
            f"store: {store.url.split('@')[-1]}",
            f"days: {window[0]} .. {window[-1]} ({len(window)} runs, "
            f"{'all ok' if result['runs_ok'] else 'SOME FAILED'})",
            f"injected anomalies: {injected}",
            f"incidents: {found} (expected from injected anomalies: {expected})",
            _summary_text(summary),
            "next: `make dev` to browse the lineage, `invoice-ops status` for the five questions",
        ]
    )
    emit(result, as_json, text)
    sys.exit(EXIT_OK if result["runs_ok"] and result["matches_injected"] else EXIT_FAIL)


@main.command()
@click.option("--date", "first", required=True, help="Inbox day (YYYY-MM-DD).")
@click.option("--to", "last", default=None, help="Last day of a range (one run for the range).")
def run(first: str, last: str | None) -> None:
    """Materialise a day, or a range as one run, in-process (as the schedule would)."""
    from invoice_assets.runner import day_range, instance_for, materialise

    _thresholds()
    settings = Settings.from_env()
    try:
        days = day_range(_day(first), _day(last or first))
    except ValueError as exc:
        fail(str(exc))
    outcomes = materialise(days, instance_for(settings), single_run=True, progress=progress)
    for outcome in outcomes:
        if not outcome.success:
            fail(f"run {outcome.run_id} failed at {', '.join(outcome.failed_steps)}", EXIT_FAIL)
    click.echo(f"materialised {len(days)} day(s): {days[0]} .. {days[-1]}")


@main.command()
@click.option("--date", "day", required=True, help="Inbox day the files arrived.")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
def ingest(day: str, files: tuple[str, ...]) -> None:
    """Copy invoice files into the inbox for a day and register them in the queue."""
    from resources.inbox import InboxResource

    settings = Settings.from_env()
    inbox = InboxResource(path=str(settings.inbox))
    day = _day(day)
    paths = inbox.ingest(day, [Path(f) for f in files])
    store = settings.store()
    store.ensure_schema()
    from invoice_assets.domain.records import source_name

    names = {source_name(p.name) for p in paths}
    changed = store.register_inbox(day, [e for e in inbox.list_files(day) if e.file_name in names])
    click.echo(
        f"ingested {len(paths)} file(s) into {inbox.day_dir(day)} ({changed} new or changed)"
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


@main.command()
@click.option("--date", "day", default=None, help="One inbox day (default: yesterday).")
@click.option("--start", default=None, help="First day of a window.")
@click.option("--end", default=None, help="Last day of a window (inclusive).")
@click.option("--json", "as_json", is_flag=True, help="The seed §6 JSON document.")
def summary(day: str | None, start: str | None, end: str | None, as_json: bool) -> None:
    """The run summary of a day or a window."""
    from invoice_assets.domain.summary import schema_errors
    from invoice_assets.reports import build_run_summary

    t = _thresholds()
    first = _day(start or day)
    last = _day(end or start or day)
    store = Settings.from_env().store()
    store.ensure_schema()
    document = build_run_summary(store, first, last, t)
    problems = schema_errors(document)
    if problems:
        fail(f"summary violates the schema: {problems}", EXIT_FAIL)
    emit(document, as_json, _summary_text(document))


@main.group()
def incidents() -> None:
    """List, inspect, acknowledge, resolve incidents and give feedback."""


def _incident_line(i: dict[str, Any]) -> str:
    return (
        f"#{i['incident_id']:<6} {i['day']} {i['severity']} {i['status']:<8} "
        f"{i['primary_flag']:<24} {i['action_class'] or '':<22} {i['supplier'] or ''}"
    )


@incidents.command("list")
@click.option("--severity", type=click.Choice(["S1", "S2"]))
@click.option("--status", type=click.Choice(["OPEN", "ACK", "RESOLVED"]))
@click.option("--date", "day", default=None)
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--json", "as_json", is_flag=True)
def incidents_list(
    severity: str | None, status: str | None, day: str | None, limit: int, as_json: bool
) -> None:
    """Newest first."""
    store = Settings.from_env().store()
    store.ensure_schema()
    rows = store.list_incidents(
        severity=severity, status=status, day=_day(day) if day else None, limit=limit
    )
    emit(rows, as_json, "\n".join(_incident_line(r) for r in rows) or "no incidents")


def _get(incident_id: int) -> dict[str, Any]:
    store = Settings.from_env().store()
    store.ensure_schema()
    row = store.get_incident(incident_id)
    if row is None:
        fail(f"incident {incident_id} not found", EXIT_FAIL)
    assert row is not None
    return row


@incidents.command("show")
@click.argument("incident_id", type=int)
@click.option("--json", "as_json", is_flag=True)
def incidents_show(incident_id: int, as_json: bool) -> None:
    """One incident with its hint, mismatch facts, feedback and field evidence."""
    row = _get(incident_id)
    evidence = Settings.from_env().store().invoice_evidence(row["day"], row["invoice_key"])
    emit(row | {"evidence": evidence}, as_json)


def _move(incident_id: int, status: str, reason: str | None) -> None:
    from invoice_assets.domain.incidents import allowed_transition
    from resources.store import utcnow

    row = _get(incident_id)
    problem = allowed_transition(row["status"], status)
    if problem:
        fail(problem)
    store = Settings.from_env().store()
    updated = store.set_incident_status(incident_id, status, reason, utcnow())
    assert updated is not None
    click.echo(_incident_line(updated))


@incidents.command("ack")
@click.argument("incident_id", type=int)
def incidents_ack(incident_id: int) -> None:
    """OPEN → ACK."""
    _move(incident_id, "ACK", None)


@incidents.command("resolve")
@click.argument("incident_id", type=int)
@click.option("--reason", default="manual_resolved", show_default=True)
def incidents_resolve(incident_id: int, reason: str) -> None:
    """OPEN/ACK → RESOLVED (resolved_at is server time)."""
    if len(reason) > 64 or "\x00" in reason:
        fail("--reason must be at most 64 characters without NUL")
    _move(incident_id, "RESOLVED", reason)


@incidents.command("feedback")
@click.argument("incident_id", type=int)
@click.option("--action", "action_taken", required=True, help="VERIFIED_OCR, VERIFIED_LOGIC, ...")
@click.option("--hint-correct/--hint-wrong", "was_hint_correct", required=True)
@click.option("--root-cause", "actual_root_cause", default=None)
@click.option("--seconds", "resolution_time_seconds", type=float, default=None)
def incidents_feedback(
    incident_id: int,
    action_taken: str,
    was_hint_correct: bool,
    actual_root_cause: str | None,
    resolution_time_seconds: float | None,
) -> None:
    """Feedback on a RESOLVED incident (replaces earlier feedback); given by the OS user."""
    import getpass

    from invoice_assets.domain.feedback import FeedbackError, require_resolved, validate_feedback
    from resources.store import utcnow

    row = _get(incident_id)
    body = {
        "action_taken": action_taken,
        "was_hint_correct": was_hint_correct,
        "actual_root_cause": actual_root_cause,
        "resolution_time_seconds": resolution_time_seconds,
    }
    try:
        require_resolved(row["status"])
        feedback = validate_feedback(body)
    except FeedbackError as exc:
        fail(f"{exc.code}: {exc.message}")
        raise
    store = Settings.from_env().store()
    store.put_feedback(incident_id, feedback, f"cli:{getpass.getuser()}", utcnow())
    click.echo(f"feedback stored for incident {incident_id}")


def api_settings(settings: Settings) -> ApiSettings:
    """Settings of the ops API for this environment (tokens file read and checked here)."""
    from invoice_assets.api.settings import ApiSettings, SettingsError, load_operators

    try:
        operators = load_operators(settings.tokens_file)
    except SettingsError as exc:
        fail(str(exc))
        raise
    return ApiSettings(
        store=settings.store(), operators=operators, openai_check=settings.openai_check()
    )


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option(
    "--readiness-cache-seconds",
    default=1.0,
    show_default=True,
    type=click.FloatRange(0, 60),
    help="Reuse a /health/ready answer this long (0: run the checks on every request).",
)
def serve(host: str, port: int, readiness_cache_seconds: float) -> None:
    """Serve the ops API (refuses to start on a broken config or tokens file)."""
    import dataclasses

    import uvicorn

    from invoice_assets.api import create_app

    _thresholds()
    settings = api_settings(Settings.from_env())
    settings = dataclasses.replace(settings, readiness_cache_seconds=readiness_cache_seconds)
    app = create_app(settings)
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=False)


@main.command()
@click.option("--json", "as_json", is_flag=True)
@click.option("--timeout", default=2.0, show_default=True, type=float, help="Per check, seconds.")
def health(as_json: bool, timeout: float) -> None:
    """Readiness as /health/ready computes it; exit 0 ready, 1 not ready."""
    from invoice_assets.readiness import readiness
    from resources.thresholds import check_thresholds

    settings = Settings.from_env()
    model, _, _ = check_thresholds()
    if model is None:
        report = {"status": "not_ready", "failing_checks": ["config"], "checks": {}}
        emit(report, as_json, "NOT READY: config invalid (run invoice-ops validate-config)")
        sys.exit(EXIT_FAIL)
    store = settings.store()
    try:
        store.ensure_schema()
    except Exception as exc:  # reported by the database check below
        click.echo(f"warning: store not reachable ({type(exc).__name__})", err=True)
    result = readiness(
        store, model, openai_check=settings.openai_check(), timeout_seconds=timeout
    ).as_dict()
    lines = [f"{result['status'].upper().replace('_', ' ')}"]
    for name, check in result["checks"].items():
        extra = {k: v for k, v in check.items() if k != "status"}
        lines.append(f"  {name:<11} {check['status']:<9} {extra}")
    lines.append(f"  last activity: {result['last_activity']}")
    emit(result, as_json, "\n".join(lines))
    sys.exit(EXIT_OK if result["status"] == "ready" else EXIT_FAIL)


@main.command()
@click.option("--json", "as_json", is_flag=True)
@click.option("--no-runs", is_flag=True, help="Skip reading the Dagster instance (faster).")
def status(as_json: bool, no_runs: bool) -> None:
    """The five operator questions on one screen; exit 1 when not ready or config broken."""
    from invoice_assets.status import operator_status, render

    result = operator_status(Settings.from_env(), with_runs=not no_runs)
    emit(result, as_json, render(result))
    healthy = result["config"]["valid"] and result["working"]["ready"]
    sys.exit(EXIT_OK if healthy else EXIT_FAIL)


@main.command()
@click.option("--name", required=True, help="Operator name recorded with their feedback.")
def token(name: str) -> None:
    """Print a new bearer token and the tokens-file line that stores its hash."""
    from invoice_assets.api.settings import hash_token, new_token

    value = new_token()
    click.echo(f"token (give to {name}, shown once): {value}")
    click.echo("add to INVOICE_OPS_TOKENS_FILE under `operators:`")
    click.echo(f"  - name: {name}\n    token_sha256: {hash_token(value)}")


@main.command()
@click.option(
    "--postgres",
    default=None,
    help="Admin URL of a PostgreSQL server (postgresql+psycopg2://…/postgres): run the smoke "
    "test in a throwaway database there instead of a temporary SQLite file.",
)
@click.option("--json", "as_json", is_flag=True)
def smoke(postgres: str | None, as_json: bool) -> None:
    """Post-deploy check: the seven E2E steps on a throwaway store; exit 0 pass, 1 fail."""
    from invoice_assets.smoke import run_smoke

    _thresholds()
    report = run_smoke(postgres, progress=progress)
    lines = [f"{'PASS' if s['ok'] else 'FAIL'}  {s['step']}" for s in report.steps]
    lines.append("SMOKE PASSED" if report.passed else "SMOKE FAILED")
    emit({"passed": report.passed, "steps": report.steps}, as_json, "\n".join(lines))
    sys.exit(EXIT_OK if report.passed else EXIT_FAIL)


if __name__ == "__main__":  # pragma: no cover
    main()
