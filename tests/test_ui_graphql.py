"""The Dagster UI tells each day's truth: the webserver and daemon on a throwaway home, driven
through the GraphQL calls the UI's pages make — a 3-day backfill from the asset graph, a
Materialize of one day, a launch of the daily job — and read back the way a partition page and a
check page read them. (The wall time of Materialize against the job is a benchmark:
``bench/ui_materialize.py``.)"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.dagster_ui import IMPLICIT_JOB, DagsterUI
from invoice_assets.demo import generate_demo
from invoice_assets.services.settings import Settings

DAYS = ["2026-11-01", "2026-11-02", "2026-11-03"]
VOLUMES = {"2026-11-01": 20, "2026-11-02": 35, "2026-11-03": 50}
CHECKS = {
    "extractions": ["extractions_expectations"],
    "offers": ["offers_expectations"],
    "incidents": ["smoke_fixture_expectations"],
    "run_summary": ["run_summary_schema"],
    "system_health_report": ["s1_rate_drift", "ocr_suspect_rate_drift", "mismatch_rate_drift"],
}


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DagsterUI, dict[str, str]]]:
    home = tmp_path_factory.mktemp("ui")
    for seed, day in enumerate(DAYS):
        generate_demo(home / "inbox", [day], VOLUMES[day], seed=seed + 5)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INVOICE_", "OPENAI_"))}
    env |= {"INVOICE_HOME": str(home), "INVOICE_PARTITIONS_START": DAYS[0]}
    with DagsterUI(Path(home), env) as driver:
        driver.start_webserver()
        # as an operator would before a controlled backfill: sensors off, so the inbox sensor
        # does not launch the same days on its own
        assert "inbox_sensor" in driver.stop_sensors()
        driver.start_daemon()
        yield driver, env


def _truth(env: dict[str, str], day: str) -> dict[str, int]:
    store = Settings.from_env(env).store()
    incidents = store.list_incidents(day=day, limit=10_000)
    return {
        "invoices": len(store.read_stage("extractions", [day])),
        "incidents": len(incidents),
        "s1": sum(i["severity"] == "S1" for i in incidents),
    }


def test_a_three_day_backfill_shows_each_day_its_own_counts_and_checks(ui) -> None:
    driver, env = ui
    backfill = driver.wait_backfill(driver.launch_backfill(DAYS, driver.asset_keys()))

    assert backfill["status"] == "COMPLETED_SUCCESS", driver.log("daemon.log")[-3000:]
    assert [r["status"] for r in backfill["runs"]] == ["SUCCESS"]  # one run for the range
    seen = set()
    for day in DAYS:
        truth = _truth(env, day)
        incidents = driver.latest_materialization("incidents", day)
        assert incidents["dagster/row_count"] == truth["incidents"], day
        assert incidents["s1_count"] == truth["s1"], day
        assert (
            driver.latest_materialization("extractions", day)["dagster/row_count"]
            == (truth["invoices"])
        )
        summary = driver.latest_materialization("run_summary", day)
        assert summary["total_invoices"] == truth["invoices"]
        assert summary["s1_count"] == truth["s1"]
        seen.add((truth["invoices"], truth["incidents"]))
    assert len(seen) == len(DAYS)  # the days differ, and each shows its own
    for asset, names in CHECKS.items():
        for name in names:
            executions = driver.check_executions(asset, name)
            assert sorted(e["partition"] for e in executions) == DAYS, (asset, name)
            assert {e["status"] for e in executions} <= {"SUCCEEDED", "FAILED"}, (asset, name)
            assert all(e["evaluation"]["description"] for e in executions), (asset, name)


def test_materialize_of_one_day_runs_in_process_and_keeps_the_day_true(ui) -> None:
    driver, env = ui
    day = DAYS[1]
    keys = driver.asset_keys()
    checks = [([asset], name) for asset, names in CHECKS.items() for name in names]

    materialize = driver.wait_run(driver.launch_run(IMPLICIT_JOB, day, keys, checks))
    job = driver.wait_run(driver.launch_run("daily_invoices", day))

    assert materialize["status"] == "SUCCESS" and job["status"] == "SUCCESS"
    for run in (materialize, job):
        messages = driver.run_messages(run["runId"])
        assert any(m.startswith("Executing steps in process") for m in messages)
        assert not any("multiprocess" in m for m in messages)
    tags = {t["key"]: t["value"] for t in driver.run(job["runId"])["tags"]}
    assert tags["invoice/trigger"] == "ui"
    assert tags["invoice/process"]  # the run worker named itself: a dead one can be reaped
    truth = _truth(env, day)
    incidents = driver.latest_materialization("incidents", day)
    assert incidents["run_id"] == job["runId"]
    assert (incidents["dagster/row_count"], incidents["s1_count"]) == (
        truth["incidents"],
        truth["s1"],
    )
    assert "range" not in incidents
    executions = driver.check_executions("incidents", "smoke_fixture_expectations")
    assert sorted(e["partition"] for e in executions) == sorted([*DAYS, day, day])
    assert all(e["status"] == "SUCCEEDED" for e in executions)
