"""A 7-day range backfill runs as one run and is idempotent."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from invoice_assets.definitions import build_definitions
from invoice_assets.services.materialise import RANGE_END, RANGE_START, day_range
from tests.assets.helpers import store_for
from tests.conftest import put_smoke_fixtures

DAYS = day_range("2025-03-01", "2025-03-07")


def test_a_seven_day_range_backfill_is_one_run_and_reruns_identically(
    sqlite_env: dict[str, str],
    apply_env,
) -> None:
    apply_env(sqlite_env)
    inbox = Path(sqlite_env["INVOICE_HOME"]) / "inbox"
    for day in DAYS:
        put_smoke_fixtures(inbox, day)
    job = build_definitions(sqlite_env).resolve_job_def("daily_invoices")
    instance = dg.DagsterInstance.ephemeral()

    first = job.execute_in_process(
        tags={RANGE_START: DAYS[0], RANGE_END: DAYS[-1]}, instance=instance
    )

    assert first.success
    assert len(instance.get_run_records()) == 1
    store = store_for(sqlite_env)
    extractions = store.read_stage("extractions", DAYS)
    assert extractions.groupby("day").size().to_dict() == dict.fromkeys(DAYS, 3)
    # The same three invoices arrive every day: one incident each, seen seven times.
    incidents = store.list_incidents(limit=100)
    assert len(incidents) == 2
    assert {i["occurrence_count"] for i in incidents} == {7}
    summaries = [store.load_document("run_summary", day) for day in DAYS]
    assert all(s is not None and s["counts"]["total_invoices"] == 3 for s in summaries)

    second = job.execute_in_process(
        tags={RANGE_START: DAYS[0], RANGE_END: DAYS[-1]}, instance=instance
    )

    assert second.success
    assert len(store.read_stage("extractions", DAYS)) == len(extractions)
    assert len(store.list_incidents(limit=100)) == 2
