"""What Dagster records for a day is that day's truth, after a range run as after a day run:
each day's materialization carries its own figures, each check is evaluated per day and
attached to its day, and no check evaluation is left planned (a phantom SKIPPED in the UI)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from invoice_assets.definitions import build_definitions
from invoice_assets.demo import generate_demo
from invoice_assets.services.materialise import RANGE_END, RANGE_START
from tests.assets.helpers import store_for

DAYS = ["2026-12-01", "2026-12-02", "2026-12-03"]
PER_DAY = {"2026-12-01": 12, "2026-12-02": 25, "2026-12-03": 40}


def _latest(instance: dg.DagsterInstance, asset: str, day: str) -> dict[str, object]:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[day]), limit=1
    ).records
    assert records, f"{asset} {day} not materialised"
    metadata = records[0].asset_materialization.metadata  # type: ignore[union-attr]
    return {k: v.value for k, v in metadata.items()}


def _evaluations(instance: dg.DagsterInstance, asset: str, check: str) -> list:
    key = dg.AssetCheckKey(dg.AssetKey(asset), check)
    return list(instance.event_log_storage.get_asset_check_execution_history(key, limit=100))


@pytest.fixture
def ranged(tmp_path: Path, env: dict[str, str], apply_env):
    apply_env(env)
    inbox = Path(env["INVOICE_HOME"]) / "inbox"
    for seed, day in enumerate(DAYS):
        generate_demo(inbox, [day], PER_DAY[day], seed=seed + 11)
    defs = build_definitions(env)
    instance = dg.DagsterInstance.ephemeral()
    job = defs.resolve_job_def("daily_invoices")
    result = job.execute_in_process(
        tags={RANGE_START: DAYS[0], RANGE_END: DAYS[-1]}, instance=instance
    )
    assert result.success
    return env, defs, instance


def test_a_range_run_gives_every_day_its_own_figures(ranged) -> None:
    env, _, instance = ranged
    store = store_for(env)

    for day in DAYS:
        invoices = len(store.read_stage("extractions", [day]))
        incidents = store.list_incidents(day=day, limit=10_000)
        s1 = sum(i["severity"] == "S1" for i in incidents)
        assert _latest(instance, "extractions", day)["dagster/row_count"] == invoices
        assert _latest(instance, "validated_invoices", day)["dagster/row_count"] == invoices
        figures = _latest(instance, "incidents", day)
        assert figures["dagster/row_count"] == len(incidents)
        assert figures["s1_count"] == s1
        assert figures["range"] == f"{DAYS[0]} .. {DAYS[-1]}"  # labelled as the range
        summary = _latest(instance, "run_summary", day)
        assert summary["total_invoices"] == invoices
        assert summary["incident_count"] == len(incidents)
        assert _latest(instance, "system_health_report", day)["dagster/row_count"] == 1
    counts = [_latest(instance, "extractions", d)["dagster/row_count"] for d in DAYS]
    assert len(set(counts)) == len(DAYS)  # three different days, three different figures


def test_a_range_run_evaluates_every_check_once_per_day(ranged) -> None:
    _, defs, instance = ranged
    graph = defs.resolve_asset_graph()
    checks = [k for k in graph.asset_check_keys if k.name != "freshness_check"]
    assert len(checks) == 7

    for key in checks:
        history = _evaluations(instance, key.asset_key.to_user_string(), key.name)
        assert sorted(r.partition for r in history) == DAYS, key
        for record in history:
            assert record.status.value in ("SUCCEEDED", "FAILED"), (key, record.status)
            evaluation = record.event.dagster_event.event_specific_data
            assert evaluation.description, key


def test_a_day_run_after_a_range_changes_only_that_day(ranged) -> None:
    env, defs, instance = ranged
    before = {d: _latest(instance, "extractions", d) for d in DAYS}
    late = Path(env["INVOICE_HOME"]) / "inbox" / DAYS[0]
    generate_demo(late.parent, [DAYS[0]], PER_DAY[DAYS[0]] + 5, seed=99)

    result = defs.resolve_job_def("daily_invoices").execute_in_process(
        partition_key=DAYS[0], instance=instance
    )

    assert result.success
    after = {d: _latest(instance, "extractions", d) for d in DAYS}
    assert after[DAYS[0]]["dagster/row_count"] == len(
        store_for(env).read_stage("extractions", [DAYS[0]])
    )
    assert "range" not in after[DAYS[0]]  # a day run describes only its day
    assert after[DAYS[1]] == before[DAYS[1]] and after[DAYS[2]] == before[DAYS[2]]
    history = _evaluations(instance, "incidents", "smoke_fixture_expectations")
    assert sorted(r.partition for r in history) == sorted([*DAYS, DAYS[0]])
