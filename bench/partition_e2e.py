"""Benchmark 2 — one daily partition end to end through Dagster, in-process (as the schedule and
``invoice-ops run`` do), on SQLite and on PostgreSQL, plus a 30-day range backfill as one run.

Inbox content comes from ``invoice_assets.demo.generate_demo`` (realistic records, 20 % injected
anomalies, one malformed file per day). A 10k day is laid out two ways: as ``.jsonl`` files of
2 000 records each (the main measurement; the inbox refuses files over 10 MiB, so one 10k file
would fail as ``file_too_large``) and as 10 000 separate ``.json`` files (one run per backend).

What is reported per configuration: wall time of ``job.execute_in_process`` (median of repeats
on distinct days, so every repeat is a first materialisation, not a rerun), the per-step
durations from the run's STEP_START/STEP_SUCCESS events, and Dagster's own cost two ways: wall
minus the sum of steps (run setup, resources, run-level events) and the wall of a trivial run (7
no-op partitioned assets, same executor and instance) measured in the same process. Every run is
checked: success, 10 001 extraction rows, and the incident count the demo manifest predicts.

The Dagster instance is SQLite under a scratch DAGSTER_HOME for both stores (the store backend is
what INVOICE_DB_URL switches). ``--big`` adds one partition of 1M synthetic invoices on PostgreSQL
with the peak RSS (tens of minutes: not part of ``run_all``); ``--big-only`` runs just that one,
``--big-n N`` changes its size.

    .venv/bin/python -m bench.partition_e2e [--quick] [--big | --big-only [--big-n N]
        [--big-inbox DIR]] [--out F]
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from bench.common import (
    RssPeak,
    cli,
    median,
    metric,
    postgres_available,
    postgres_database,
    profile_top,
    record,
    scratch_dir,
)
from bench.partition_inputs import JSONL_CHUNK, prepare_inbox, write_big_day_apart

NAME = "partition_e2e"
TARGET_SQLITE_S = 5.0
TARGET_POSTGRES_S = 8.0
BIG_CHUNK = 1_000
STEPS = (
    "extractions",
    "validated_invoices",
    "offers",
    "quality_scores",
    "incidents",
    "run_summary",
    "system_health_report",
)


# -- Dagster --------------------------------------------------------------------------------------


def trivial_job() -> Any:
    """Seven no-op partitioned assets in the same chain, same executor: Dagster's floor."""
    import dagster as dg

    from invoice_assets.services.partitions import DailyLayout

    daily_partitions = DailyLayout().partitions
    assets = []
    previous: str | None = None
    for name in STEPS:

        @dg.asset(
            name=f"noop_{name}",
            partitions_def=daily_partitions,
            deps=[previous] if previous else [],
            backfill_policy=dg.BackfillPolicy.single_run(),
        )
        def _noop():  # no annotation: dagster resolves it at runtime
            return dg.MaterializeResult(metadata={"rows": 0})

        assets.append(_noop)
        previous = f"noop_{name}"
    job = dg.define_asset_job(
        "noop_daily", partitions_def=daily_partitions, executor_def=dg.in_process_executor
    )
    return dg.Definitions(assets=assets, jobs=[job]).resolve_job_def("noop_daily")


def step_durations(instance: Any, run_id: str) -> dict[str, float]:
    import dagster as dg

    started: dict[str, float] = {}
    out: dict[str, float] = {}
    records = instance.all_logs(
        run_id, of_type={dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS}
    )
    for entry in records:
        event = entry.dagster_event
        if event.event_type == dg.DagsterEventType.STEP_START:
            started[event.step_key] = entry.timestamp
        elif event.step_key in started:
            out[event.step_key] = entry.timestamp - started[event.step_key]
    return out


def run_days(
    days: list[str], instance: Any, defs: Any, store: Any, expected: dict[str, int], single: bool
) -> dict[str, Any]:
    """Materialise ``days`` (one run, or a single-run backfill) and check what it wrote."""
    from invoice_assets.services.materialise import materialise

    started = time.perf_counter()
    outcomes = materialise(days, instance, single_run=single, defs=defs)
    wall = time.perf_counter() - started
    outcome = outcomes[0]
    steps = step_durations(instance, outcome.run_id)
    rows = _count(store, "extractions", days)
    incidents = _count(store, "incidents", days)
    want = sum(expected.get(day, 0) for day in days) if expected else None
    return {
        "days": f"{days[0]}..{days[-1]}" if len(days) > 1 else days[0],
        "success": outcome.success and len(outcomes) == 1,
        "failed_steps": list(outcome.failed_steps),
        "wall_s": round(wall, 3),
        "steps_s": {k: round(v, 3) for k, v in steps.items()},
        "steps_sum_s": round(sum(steps.values()), 3),
        "outside_steps_s": round(wall - sum(steps.values()), 3),
        "extraction_rows": rows,
        "incidents": incidents,
        "incidents_expected": want,
        "incidents_match": incidents == want if want is not None else None,
    }


def _count(store: Any, table: str, days: list[str]) -> int:
    """Rows of the days in a store table, counted in SQL (reading them back to count them was
    measured as the run's memory: 10M keys are ~3 GiB of Python strings)."""
    from sqlalchemy import func, select

    from resources.store import schema as s

    t = getattr(s, table)
    query = select(func.count()).select_from(t).where(t.c.day.between(days[0], days[-1]))
    with store.engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


class Backend:
    """One store backend: environment, definitions and instance set up for in-process runs."""

    def __init__(self, work: Path, db_url: str | None) -> None:
        from invoice_assets.definitions import build_definitions
        from invoice_assets.services.materialise import instance_for
        from invoice_assets.services.settings import Settings

        self.db_url = db_url
        self.env = {
            "INVOICE_HOME": str(work / "home"),
            "DAGSTER_HOME": str(work / ("dagster-pg" if db_url else "dagster-sqlite")),
        }
        self.activate()
        settings = Settings.from_env()
        self.instance = instance_for(settings)
        self.defs = build_definitions()
        self.store = settings.store()

    def activate(self) -> None:
        os.environ.update(self.env)
        if self.db_url:
            os.environ["INVOICE_DB_URL"] = self.db_url
        else:
            os.environ.pop("INVOICE_DB_URL", None)


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    steps = {s: median([r["steps_s"].get(s, 0.0) for r in runs]) for s in STEPS}
    return {
        "wall_median_s": round(median([r["wall_s"] for r in runs]), 3),
        "steps_sum_median_s": round(median([r["steps_sum_s"] for r in runs]), 3),
        "outside_steps_median_s": round(median([r["outside_steps_s"] for r in runs]), 3),
        "step_median_s": {k: round(v, 3) for k, v in steps.items()},
        "all_checked": all(r["success"] and r["incidents_match"] for r in runs),
        "runs": runs,
    }


def big_partition(work: Path, url: str, n: int, inbox: Path | None = None) -> dict[str, Any]:
    """``n`` synthetic invoices in one partition on PostgreSQL: wall, steps and peak RSS.

    The day is generated in a child process; with ``inbox`` (``--big-inbox``) it is generated
    there once and moved in for the run (and back after), so a 10M day is written only once."""
    day = "2025-06-02"
    folder = work / "home" / "inbox" / day
    started = time.perf_counter()
    if inbox is None or not inbox.exists():
        write_big_day_apart(inbox or folder, n, BIG_CHUNK)
    generate_s = time.perf_counter() - started
    if inbox is not None:
        folder.parent.mkdir(parents=True, exist_ok=True)
        inbox.rename(folder)
    try:
        backend = Backend(work, url)
        with RssPeak(interval=0.05) as rss:
            result = run_days([day], backend.instance, backend.defs, backend.store, {}, False)
    finally:
        if inbox is not None:
            folder.rename(inbox)
    result["generate_s"] = round(generate_s, 1)
    result["chunk_invoices"] = getattr(backend.store, "chunk_invoices", None)
    result["rss_start_mib"] = round(rss.start / 2**20, 1)
    result["rss_peak_mib"] = round(rss.peak_mib, 1)
    result["rss_delta_mib"] = round(rss.delta_mib, 1)
    return result


def run_big(n: int, inbox: Path | None = None) -> dict[str, Any]:
    """Only the big partition (``--big-only``): PostgreSQL store, one run, peak RSS."""
    started = time.perf_counter()
    metrics: dict[str, Any] = {}
    details: dict[str, Any] = {}
    with scratch_dir(NAME) as work, postgres_database() as url:
        details["postgres_big"] = b = big_partition(work, url, n, inbox)
    label = f"{n // 1_000_000}M" if n >= 1_000_000 else f"{n // 1_000}k"
    metrics[f"postgres_{label}_wall_s"] = metric(b["wall_s"], "s", "lower")
    metrics[f"postgres_{label}_rss_peak"] = metric(b["rss_peak_mib"], "MiB", "lower")
    notes = [f"{n} synthetic invoices in one partition ({BIG_CHUNK} per .jsonl file)"]
    return record(f"{NAME}_big", started, metrics, details, notes)


def run(
    quick: bool = False,
    big: bool = False,
    big_only: bool = False,
    big_n: int = 1_000_000,
    big_inbox: str | None = None,
) -> dict[str, Any]:
    if big_only:
        return run_big(big_n, Path(big_inbox) if big_inbox else None)
    started = time.perf_counter()
    per_day = 1_000 if quick else 10_000
    repeats = 1 if quick else 3
    jsonl_days = [f"2025-03-{d:02d}" for d in range(2, 2 + repeats)]
    files_day = "2025-03-20"
    backfill_days = [f"2025-04-{d:02d}" for d in range(1, (4 if quick else 31))]
    backfill_per_day = 200 if quick else 1_000
    warm_day = "2025-03-01"
    profile_day = "2025-03-10"  # one more day, run under cProfile when a target is missed
    metrics: dict[str, Any] = {}
    details: dict[str, Any] = {"invoices_per_day": per_day, "jsonl_records_per_file": JSONL_CHUNK}
    notes: list[str] = []
    with scratch_dir(NAME) as work:
        prepared = prepare_inbox(
            work,
            [warm_day, *jsonl_days, profile_day],
            files_day,
            backfill_days,
            per_day,
            backfill_per_day,
        )
        # The warm-up day holds a full day too; only its first run is "cold" (GX import etc.).
        expected = prepared["expected_incidents"]
        details["generation_s"] = {k: round(v, 2) for k, v in prepared["generation"].items()}

        sqlite = Backend(work, None)
        from invoice_assets.services.materialise import QUIET

        floor_job = trivial_job()
        cold = run_days([warm_day], sqlite.instance, sqlite.defs, sqlite.store, expected, False)
        details["sqlite_first_run_in_process"] = cold
        floor = []
        for _ in range(5):
            t0 = time.perf_counter()
            floor_job.execute_in_process(
                partition_key=warm_day, instance=sqlite.instance, run_config=QUIET
            )
            floor.append(time.perf_counter() - t0)
        floor_s = median(floor)
        details["dagster_trivial_run_s"] = [round(x, 3) for x in floor]

        sqlite_runs = [
            run_days([day], sqlite.instance, sqlite.defs, sqlite.store, expected, False)
            for day in jsonl_days
        ]
        details["sqlite_jsonl"] = summarise(sqlite_runs)
        if details["sqlite_jsonl"]["wall_median_s"] > TARGET_SQLITE_S:
            _, details["sqlite_profile"] = profile_top(
                lambda: run_days(
                    [profile_day], sqlite.instance, sqlite.defs, sqlite.store, expected, False
                )
            )
        details["sqlite_files"] = run_days(
            [files_day], sqlite.instance, sqlite.defs, sqlite.store, expected, False
        )
        backfill = run_days(
            backfill_days, sqlite.instance, sqlite.defs, sqlite.store, expected, True
        )
        details["sqlite_backfill"] = backfill

        size = f"{per_day // 1_000}k"
        span = f"{len(backfill_days)}x{backfill_per_day / 1_000:g}k"
        sq = details["sqlite_jsonl"]
        metrics[f"sqlite_{size}_wall_s"] = metric(
            sq["wall_median_s"], "s", "lower", TARGET_SQLITE_S
        )
        metrics[f"sqlite_{size}_stage_work_s"] = metric(
            sq["wall_median_s"] - floor_s, "s", "lower", note="wall minus trivial-run floor"
        )
        metrics["dagster_trivial_run_floor_s"] = metric(floor_s, "s", "lower")
        metrics[f"sqlite_{size}_outside_steps_s"] = metric(
            sq["outside_steps_median_s"], "s", "lower"
        )
        metrics[f"sqlite_{size}_as_{size}_files_wall_s"] = metric(
            details["sqlite_files"]["wall_s"], "s", "lower"
        )
        metrics[f"sqlite_backfill_{span}_one_run_s"] = metric(backfill["wall_s"], "s", "lower")

        if postgres_available():
            with postgres_database() as url:
                pg = Backend(work, url)
                pg_cold = run_days([warm_day], pg.instance, pg.defs, pg.store, expected, False)
                details["postgres_first_run"] = pg_cold
                pg_runs = [
                    run_days([day], pg.instance, pg.defs, pg.store, expected, False)
                    for day in jsonl_days
                ]
                details["postgres_jsonl"] = summarise(pg_runs)
                if details["postgres_jsonl"]["wall_median_s"] > TARGET_POSTGRES_S:
                    _, details["postgres_profile"] = profile_top(
                        lambda pg=pg: run_days(
                            [profile_day], pg.instance, pg.defs, pg.store, expected, False
                        )
                    )
                details["postgres_files"] = run_days(
                    [files_day], pg.instance, pg.defs, pg.store, expected, False
                )
                pq = details["postgres_jsonl"]
                metrics[f"postgres_{size}_wall_s"] = metric(
                    pq["wall_median_s"], "s", "lower", TARGET_POSTGRES_S
                )
                metrics[f"postgres_{size}_stage_work_s"] = metric(
                    pq["wall_median_s"] - floor_s, "s", "lower", note="wall minus trivial floor"
                )
                metrics[f"postgres_{size}_as_{size}_files_wall_s"] = metric(
                    details["postgres_files"]["wall_s"], "s", "lower"
                )
                if big:
                    details["postgres_big"] = b = big_partition(work, url, big_n)
                    metrics["postgres_big_wall_s"] = metric(b["wall_s"], "s", "lower")
                    metrics["postgres_big_rss_peak"] = metric(b["rss_peak_mib"], "MiB", "lower")
                sqlite.activate()
        else:
            notes.append("PostgreSQL not reachable on 127.0.0.1:5432: its runs were skipped")

        checked = [*sqlite_runs, details["sqlite_files"], backfill]
        checked += details.get("postgres_jsonl", {}).get("runs", [])
        bad = [r["days"] for r in checked if not (r["success"] and r["incidents_match"])]
        if bad:
            notes.append(f"runs that failed or gave unexpected incident counts: {bad}")
        else:
            notes.append("every run succeeded with the incident count the demo manifest predicts")
        notes.append(
            f"sizes: {per_day} invoices (+1 malformed file) per day, "
            f"{len(jsonl_days)} repeats on distinct days; backfill {len(backfill_days)} days "
            f"x {backfill_per_day}"
        )
    return record(NAME, started, metrics, details, notes)


def _extra(parser: Any) -> None:
    parser.add_argument(
        "--big", action="store_true", help="also 1M invoices in one partition on PostgreSQL"
    )
    parser.add_argument("--big-only", action="store_true", help="only the big partition")
    parser.add_argument("--big-n", type=int, default=1_000_000, help="invoices of the big one")
    parser.add_argument(
        "--big-inbox",
        default=None,
        help="a folder holding the big day's files (generated there if missing, kept after)",
    )


def main() -> None:
    cli(NAME, run, _extra)


if __name__ == "__main__":
    main()
