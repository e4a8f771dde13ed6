"""Sensors evaluated with ``build_sensor_context`` on a real (temporary) Dagster instance."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest

from invoice_assets.definitions import build_definitions, build_resources
from invoice_assets.demo import generate_demo
from invoice_assets.sensors import (
    check_failure_alert_sensor,
    failed_checks,
    inbox_sensor,
    incident_alerts_sensor,
    run_failure_alert_sensor,
    stuck_sensor,
)
from tests.assets.helpers import store_for
from tests.conftest import put_smoke_fixtures
from tests.instance_helpers import make_stuck_run


@pytest.fixture
def instance(tmp_path: Path):
    (tmp_path / "dagster").mkdir()
    with dg.DagsterInstance.local_temp(str(tmp_path / "dagster")) as temp:
        yield temp


@pytest.fixture
def env(sqlite_env: dict[str, str], apply_env) -> dict[str, str]:
    return apply_env(sqlite_env)


def _resources(env: dict[str, str]) -> dict[str, object]:
    return build_resources(env)


def tick(sensor, env: dict[str, str], instance, cursor: str | None = None):
    """One evaluation of a sensor; returns (result, cursor after the tick)."""
    with dg.build_sensor_context(
        instance=instance, cursor=cursor, resources=_resources(env)
    ) as context:
        result = sensor(context)
        return result, context.cursor


def test_the_inbox_sensor_requests_new_days_once_and_again_after_a_change(env, instance) -> None:
    inbox = Path(env["INVOICE_HOME"]) / "inbox"
    put_smoke_fixtures(inbox, "2025-02-03")
    put_smoke_fixtures(inbox, "2025-02-04")
    first, _ = tick(inbox_sensor, env, instance)
    assert sorted(r.partition_key for r in first.run_requests) == ["2025-02-03", "2025-02-04"]

    second, _ = tick(inbox_sensor, env, instance, first.cursor)
    assert second.run_requests == []
    assert second.skip_reason is not None

    (inbox / "2025-02-04" / "late.json").write_bytes(
        (inbox / "2025-02-04" / "happy_path_invoice.json").read_bytes()
    )
    third, _ = tick(inbox_sensor, env, instance, second.cursor)
    assert [r.partition_key for r in third.run_requests] == ["2025-02-04"]
    assert third.run_requests[0].run_key != first.run_requests[1].run_key


def test_a_run_without_events_for_stuck_minutes_raises_one_critical_alert(env, instance) -> None:
    stuck = make_stuck_run(instance, minutes=30)
    instance.add_run(dg.DagsterRun(job_name="daily_invoices", status=dg.DagsterRunStatus.STARTED))
    store = store_for(env)
    store.ensure_schema()

    _, cursor = tick(stuck_sensor, env, instance)

    alerts = [a for a in store.alerts() if a["code"] == "STUCK_RUN"]
    assert len(alerts) == 1
    assert alerts[0]["severity"] == "CRITICAL"
    assert [r["run_id"] for r in alerts[0]["context"]["runs"]] == [stuck]

    before = len(store.alerts())
    tick(stuck_sensor, env, instance, cursor)
    assert len(store.alerts()) == before  # the cursor stops repeats


def test_a_queue_without_progress_raises_a_stuck_queue_alert(env, instance) -> None:
    from datetime import timedelta

    from sqlalchemy import update

    from resources import store_schema
    from resources.store import InboxEntry, utcnow

    store = store_for(env)
    store.ensure_schema()
    store.register_inbox("2025-02-03", [InboxEntry("a.json", "/x/a.json", "0" * 64, 1)])
    with store.engine.begin() as conn:
        conn.execute(
            update(store_schema.inbox_files).values(updated_at=utcnow() - timedelta(minutes=45))
        )

    tick(stuck_sensor, env, instance)

    (alert,) = [a for a in store.alerts() if a["code"] == "STUCK_QUEUE"]
    assert alert["context"]["current_depth"] == 1


def test_s1_drift_after_incidents_materialise_raises_a_critical_alert(env, instance) -> None:
    day = "2025-03-10"
    manifest = generate_demo(Path(env["INVOICE_HOME"]) / "inbox", [day], 60, seed=3)
    assert manifest.expected_by_primary_flag().get("INVOICE_TOTAL_MISMATCH", 0) >= 1
    job = build_definitions(env).resolve_job_def("daily_invoices")
    assert job.execute_in_process(partition_key=day, instance=instance).success

    result, _ = tick(incident_alerts_sensor, env, instance)

    codes = {a["code"]: a for a in store_for(env).alerts()}
    assert "S1_RATE_DRIFT" in codes, result
    assert codes["S1_RATE_DRIFT"]["severity"] == "CRITICAL"
    assert codes["S1_RATE_DRIFT"]["context"]["day"] == day
    assert codes["S1_RATE_DRIFT"]["context"]["previous_count"] == 0


def test_a_failed_run_raises_an_alert(env, instance, tmp_path: Path) -> None:
    broken = dict(env, INVOICE_DB_URL="postgresql+psycopg2://postgres@127.0.0.1:1/none")
    put_smoke_fixtures(Path(env["INVOICE_HOME"]) / "inbox", "2025-02-03")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("INVOICE_DB_URL", broken["INVOICE_DB_URL"])
        job = build_definitions(broken).resolve_job_def("daily_invoices")
        result = job.execute_in_process(
            partition_key="2025-02-03", instance=instance, raise_on_error=False
        )
    assert not result.success
    (entry,) = instance.all_logs(result.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
    failure = entry.dagster_event
    with dg.build_run_status_sensor_context(
        sensor_name="run_failure_alert_sensor",
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        dagster_event=failure,
        resources=_resources(env),
    ) as context:
        run_failure_alert_sensor(context.for_run_failure())

    (alert,) = store_for(env).alerts()
    assert alert["code"] == "RUN_FAILED"
    assert alert["context"]["partition"] == "2025-02-03"
    assert "postgres@" not in json.dumps(alert, default=str)  # no connection string in alerts


def test_failed_error_checks_of_a_successful_run_raise_an_alert(env, instance) -> None:
    @dg.asset(check_specs=[dg.AssetCheckSpec("always_fails", asset="probe")])
    def probe() -> dg.MaterializeResult:
        return dg.MaterializeResult(
            check_results=[
                dg.AssetCheckResult(
                    check_name="always_fails", passed=False, severity=dg.AssetCheckSeverity.ERROR
                )
            ]
        )

    result = dg.materialize([probe], instance=instance)
    assert result.success
    assert failed_checks(instance, result.run_id) == [{"asset": "probe", "check": "always_fails"}]
    (entry,) = instance.all_logs(result.run_id, of_type=dg.DagsterEventType.RUN_SUCCESS)
    success = entry.dagster_event
    with dg.build_run_status_sensor_context(
        sensor_name="check_failure_alert_sensor",
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        dagster_event=success,
        resources=_resources(env),
    ) as context:
        check_failure_alert_sensor(context)

    (alert,) = store_for(env).alerts()
    assert alert["code"] == "CHECK_FAILED"
    assert alert["context"]["checks"] == [{"asset": "probe", "check": "always_fails"}]
