"""Sensors evaluated with ``build_sensor_context`` on a real (temporary) Dagster instance."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest

from invoice_assets.automation.sensors import (
    check_failure_alert_sensor,
    failed_checks,
    incident_alerts_sensor,
    stuck_sensor,
)
from invoice_assets.definitions import build_definitions, build_resources
from invoice_assets.guard import run_failure_alert_sensor
from resources.inbox import InboxResource
from tests.assets.helpers import store_for
from tests.conftest import SMOKE, put_smoke_fixtures
from tests.instance_helpers import make_stuck_run
from tests.webhook import Receiver


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


def _inbox_sensor(env: dict[str, str]) -> dg.SensorDefinition:
    return build_definitions(env).resolve_sensor_def("inbox_sensor")


def _run_day(env: dict[str, str], instance, day: str) -> None:
    job = build_definitions(env).resolve_job_def("daily_invoices")
    assert job.execute_in_process(partition_key=day, instance=instance).success


def test_the_inbox_sensor_requests_changed_days_and_nothing_after_a_restart(env, instance) -> None:
    inbox = Path(env["INVOICE_HOME"]) / "inbox"
    put_smoke_fixtures(inbox, "2025-02-03")
    put_smoke_fixtures(inbox, "2025-02-04")
    sensor = _inbox_sensor(env)
    first, _ = tick(sensor, env, instance)
    assert sorted(r.partition_key for r in first.run_requests) == ["2025-02-03", "2025-02-04"]
    assert all(r.tags["invoice/trigger"] == "sensor" for r in first.run_requests)
    for day in ("2025-02-03", "2025-02-04"):
        _run_day(env, instance, day)

    second, _ = tick(sensor, env, instance, first.cursor)
    restarted, _ = tick(sensor, env, instance, None)  # a lost cursor: the store says what ran
    assert second.run_requests == [] and restarted.run_requests == []
    assert restarted.skip_reason is not None

    folder = inbox / "2025-02-04"
    same = (folder / "happy_path_invoice.json").read_bytes()
    (folder / "happy_path_invoice.json").write_bytes(same)  # touched, same bytes
    touched, _ = tick(sensor, env, instance, restarted.cursor)
    assert touched.run_requests == []

    (folder / "late.json").write_bytes(same.replace(b"SMOKE-happy", b"SMOKE-late"))
    third, _ = tick(sensor, env, instance, touched.cursor)
    assert [r.partition_key for r in third.run_requests] == ["2025-02-04"]
    assert third.run_requests[0].run_key != first.run_requests[1].run_key


def test_files_for_a_day_without_a_partition_wait_and_are_requested_once_it_exists(
    env, instance
) -> None:
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    from invoice_assets.services.inbox_changes import scan_inbox
    from invoice_assets.services.partitions import DailyLayout

    now = datetime.now(ZoneInfo("Europe/Istanbul"))
    today = now.date().isoformat()
    inbox = Path(env["INVOICE_HOME"]) / "inbox"
    put_smoke_fixtures(inbox, today)
    put_smoke_fixtures(inbox, "2023-12-31")  # before the partitions start

    result, _ = tick(_inbox_sensor(env), env, instance)

    assert result.run_requests == []
    assert (
        f"{today}: 3 file(s) wait for the partition {today} to exist"
        in result.skip_reason.skip_message
    )
    assert (
        "2023-12-31: 3 file(s) before the first partition 2024-01-01"
        in result.skip_reason.skip_message
    )
    later = scan_inbox(
        InboxResource(path=str(inbox)),
        store_for(env),
        DailyLayout().partitions,
        json.loads(result.cursor or "{}"),
        now + timedelta(days=1),
    )
    assert list(later.requests) == [today]


def test_a_run_without_events_for_stuck_minutes_raises_one_critical_alert(env, instance) -> None:
    stuck = make_stuck_run(instance, minutes=30)
    instance.add_run(dg.DagsterRun(job_name="daily_invoices", status=dg.DagsterRunStatus.STARTED))
    store = store_for(env)
    store.ensure_schema()

    tick(stuck_sensor, env, instance)

    alerts = [a for a in store.alerts() if a["code"] == "STUCK_RUN"]
    assert len(alerts) == 1
    assert alerts[0]["severity"] == "CRITICAL"
    assert [r["run_id"] for r in alerts[0]["context"]["runs"]] == [stuck]

    before = len(store.alerts())
    again, _ = tick(stuck_sensor, env, instance, None)
    assert len(store.alerts()) == before  # one alert per stuck run, even after a restart
    assert "suppressed: STUCK_RUN" in again.skip_message


def test_a_queue_without_progress_raises_a_stuck_queue_alert(env, instance) -> None:
    from datetime import timedelta

    from sqlalchemy import update

    from invoice_assets.kernel.clock import SYSTEM_CLOCK
    from resources.store import InboxEntry
    from resources.store import schema as store_schema

    store = store_for(env)
    store.ensure_schema()
    store.register_inbox("2025-02-03", [InboxEntry("a.json", "/x/a.json", "0" * 64, 1)])
    with store.engine.begin() as conn:
        conn.execute(
            update(store_schema.inbox_files).values(
                updated_at=SYSTEM_CLOCK.now() - timedelta(minutes=45)
            )
        )

    tick(stuck_sensor, env, instance)

    (alert,) = [a for a in store.alerts() if a["code"] == "STUCK_QUEUE"]
    assert alert["context"]["current_depth"] == 1


def _jsonl(folder: Path, fixture: str, n: int, tag: str) -> None:
    """``n`` copies of a smoke fixture with their own invoice numbers, in one JSONL file."""
    record = json.loads((SMOKE / f"{fixture}.json").read_text(encoding="utf-8"))
    lines = []
    for i in range(n):
        record["invoice"]["invoice_no"] = f"{tag}-{i:04d}"
        lines.append(json.dumps(record, ensure_ascii=False))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{tag}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_a_first_day_of_data_has_no_baseline_and_raises_no_drift_alert(env, instance) -> None:
    day = "2025-03-10"
    inbox = Path(env["INVOICE_HOME"]) / "inbox"
    _jsonl(inbox / day, "s1_ocr_suspect_invoice", 25, "S1")
    _run_day(env, instance, day)

    result, _ = tick(incident_alerts_sensor, env, instance)

    drift = [a for a in store_for(env).alerts() if a["code"].endswith("_DRIFT")]
    assert drift == [], result.skip_reason
    assert "no alert" in result.skip_reason.skip_message


def test_s1_drift_against_a_baseline_alerts_once_across_reruns_and_restarts(
    tmp_path: Path, sqlite_env: dict[str, str], apply_env, instance
) -> None:
    with Receiver() as receiver:
        env = apply_env(sqlite_env | {"INVOICE_ALERT_WEBHOOK_URL": receiver.url})
        inbox = Path(env["INVOICE_HOME"]) / "inbox"
        baseline, day = "2025-03-02", "2025-03-10"
        _jsonl(inbox / baseline, "happy_path_invoice", 25, "OK")
        _jsonl(inbox / day, "happy_path_invoice", 15, "OK2")
        _jsonl(inbox / day, "s1_ocr_suspect_invoice", 10, "S1")
        _run_day(env, instance, baseline)
        _run_day(env, instance, day)

        first, cursor = tick(incident_alerts_sensor, env, instance)
        _run_day(env, instance, day)  # a rerun of the same day, same data
        rerun, _ = tick(incident_alerts_sensor, env, instance, cursor)
        restarted, _ = tick(incident_alerts_sensor, env, instance, None)  # cursor lost

    store = store_for(env)
    (drift,) = [a for a in store.alerts() if a["code"] == "S1_RATE_DRIFT"]
    assert drift["severity"] == "CRITICAL"
    assert drift["day"] == day
    assert drift["context"]["baseline_total"] == 25
    s1_sent = [p for p in receiver.received if p["text"].startswith("[CRITICAL] S1_RATE_DRIFT")]
    assert len(s1_sent) == 1
    assert "sent: S1_RATE_DRIFT 2025-03-10" in first.skip_reason.skip_message
    assert "suppressed: " in rerun.skip_reason.skip_message
    assert "sent:" not in rerun.skip_reason.skip_message
    assert "sent:" not in restarted.skip_reason.skip_message
    (observation,) = [e for e in first.asset_events if e.partition == day]
    assert observation.asset_key == dg.AssetKey("system_health_report")
    assert observation.metadata["alerts_sent"].value >= 1


def test_a_changed_value_updates_the_alert_instead_of_adding_one(env) -> None:
    from invoice_assets.domain.digest import AlertSpec

    alerts = _resources(env)["alerts"]
    spec = AlertSpec("WARNING", "MISMATCH_RATE_DRIFT", "rate 30%", {"rate": 0.3}, day="2025-03-10")
    first = alerts.raise_alert(spec)
    again = alerts.raise_alert(spec)
    changed = alerts.raise_alert(
        AlertSpec("WARNING", "MISMATCH_RATE_DRIFT", "rate 45%", {"rate": 0.45}, day="2025-03-10")
    )
    other_day = alerts.raise_alert(
        AlertSpec("WARNING", "MISMATCH_RATE_DRIFT", "rate 45%", {"rate": 0.45}, day="2025-03-11")
    )

    assert [first.outcome, again.outcome, changed.outcome, other_day.outcome] == [
        "sent",
        "suppressed",
        "updated",
        "sent",
    ]
    rows = store_for(env).alerts(code="MISMATCH_RATE_DRIFT")
    assert sorted((r["day"], r["revision"], r["message"]) for r in rows) == [
        ("2025-03-10", 2, "rate 45%"),
        ("2025-03-11", 1, "rate 45%"),
    ]


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


def test_the_stuck_sensor_fails_a_run_whose_process_is_gone(env, instance) -> None:
    import subprocess
    import sys

    from tests.conftest import REPO

    code = (
        "import json, invoice_assets.services.dead_runs as d; print(json.dumps(d.process_tags()))"
    )
    gone = json.loads(
        subprocess.run(
            [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout
    )  # the tags of a process that has exited
    run = instance.add_run(
        dg.DagsterRun(job_name="daily_invoices", status=dg.DagsterRunStatus.STARTED, tags=gone)
    )

    result, _ = tick(stuck_sensor, env, instance)

    assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE
    assert "DEAD_RUN_REAPED" in result.skip_message
    reaped = store_for(env).alerts(code="DEAD_RUN_REAPED")
    assert {a["context"]["action"] for a in reaped} == {"failed", "slots freed"}
    assert {a["context"]["run_id"] for a in reaped} == {run.run_id}
