"""Sensors: thin wrappers over plain discovery functions (tested with ``build_sensor_context``).

* ``inbox_sensor``: new or changed files in ``<inbox>/<day>/`` → a run of that day's partition.
* ``stuck_sensor``: runs STARTED without a new event, or the inbox queue not draining, for
  Recovery.STUCK_MINUTES → CRITICAL alert (once per run / stall, remembered in the cursor).
* ``incident_alerts_sensor``: after ``incidents`` materialises a day, the §5.6 drift of that day
  and the Alert.* digest rules → alerts.
* ``run_failure_alert_sensor`` / ``check_failure_alert_sensor``: failed runs and failed ERROR
  checks → alerts (non-blocking checks do not fail runs, so a status sensor reads them).
Every sensor also retries undelivered webhook alerts.
"""

import hashlib
import json

import dagster as dg
from dagster._core.definitions.asset_checks.asset_check_evaluation import AssetCheckEvaluation

from invoice_assets.domain.digest import AlertSpec, digest_alerts, drift_alerts
from invoice_assets.jobs import daily_invoices_job
from invoice_assets.monitoring import digest_counts, stuck_runs
from invoice_assets.reports import build_health_report
from resources.alerts import AlertSink
from resources.inbox import InboxResource
from resources.store import InvoiceStore
from resources.thresholds import ThresholdsResource


def inbox_fingerprints(inbox: InboxResource) -> dict[str, str]:
    """A fingerprint of each inbox day's files (names, sizes and modification times)."""
    out = {}
    for day in inbox.days():
        folder = inbox.day_dir(day)
        parts = sorted(
            f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}"
            for p in folder.iterdir()
            if p.is_file() and not p.name.startswith(".")
        )
        if parts:
            out[day] = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]
    return out


def changed_days(previous: dict[str, str], current: dict[str, str]) -> list[str]:
    return sorted(day for day, print_ in current.items() if previous.get(day) != print_)


@dg.sensor(
    job=daily_invoices_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Requests the day's partition when files arrive in or change in the inbox.",
)
def inbox_sensor(context: dg.SensorEvaluationContext, inbox: InboxResource) -> dg.SensorResult:
    previous = json.loads(context.cursor) if context.cursor else {}
    current = inbox_fingerprints(inbox)
    days = changed_days(previous, current)
    valid = set(daily_invoices_job.partitions_def.get_partition_keys())  # type: ignore[union-attr]
    requests = [
        dg.RunRequest(partition_key=day, run_key=f"inbox-{day}-{current[day]}")
        for day in days
        if day in valid
    ]
    if not requests:
        return dg.SensorResult(skip_reason="no new inbox files", cursor=json.dumps(current))
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(current))


def _send(alerts: AlertSink, specs: list[AlertSpec]) -> list[str]:
    for spec in specs:
        alerts.send(spec.severity, spec.code, spec.message, spec.context)
    return [spec.code for spec in specs]


@dg.sensor(
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Alerts on runs or an inbox queue without progress for Recovery.STUCK_MINUTES.",
)
def stuck_sensor(
    context: dg.SensorEvaluationContext,
    store: InvoiceStore,
    thresholds: ThresholdsResource,
    alerts: AlertSink,
) -> dg.SkipReason:
    t = thresholds.get()
    store.ensure_schema()  # the sensor may tick before the first run created the tables
    alerts.retry_undelivered()
    seen = json.loads(context.cursor) if context.cursor else {"runs": [], "queue": None}
    runs = stuck_runs(context.instance, t.Recovery.STUCK_MINUTES)
    new_runs = [r for r in runs if r["run_id"] not in seen["runs"]]
    queue = store.queue_state(t.Recovery.STUCK_MINUTES)
    queue_stall = queue["last_progress_at"] if queue["stuck_detected"] else None
    stuck_items = len(runs) + (queue["current_depth"] if queue_stall else 0)
    specs = []
    if new_runs and stuck_items >= t.Alert.STUCK_COUNT:
        specs.append(
            AlertSpec(
                "CRITICAL",
                "STUCK_RUN",
                f"{len(new_runs)} run(s) without progress",
                {"runs": new_runs},
            )
        )
    if queue_stall and queue_stall != seen["queue"] and stuck_items >= t.Alert.STUCK_COUNT:
        specs.append(
            AlertSpec(
                "CRITICAL",
                "STUCK_QUEUE",
                f"inbox queue depth {queue['current_depth']} without progress since {queue_stall}",
                queue,
            )
        )
    sent = _send(alerts, specs)
    context.update_cursor(
        json.dumps(
            {
                "runs": sorted({*seen["runs"], *(r["run_id"] for r in runs)})[-500:],
                "queue": queue_stall,
            }
        )
    )
    return dg.SkipReason(f"alerts sent: {sent}" if sent else "nothing stuck")


def new_incident_days(instance: dg.DagsterInstance, after_id: int) -> tuple[list[str], int]:
    """Partitions of ``incidents`` materialised after storage id ``after_id``, and the new id."""
    result = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("incidents"), after_storage_id=after_id),
        limit=1000,
        ascending=True,
    )
    days, last = [], after_id
    for record in result.records:
        last = max(last, record.storage_id)
        if record.partition_key and record.partition_key not in days:
            days.append(record.partition_key)
    return days, last


@dg.sensor(
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="After incidents materialise: drift (S1, OCR, mismatch) and digest alerts.",
)
def incident_alerts_sensor(
    context: dg.SensorEvaluationContext,
    store: InvoiceStore,
    thresholds: ThresholdsResource,
    alerts: AlertSink,
) -> dg.SkipReason:
    t = thresholds.get()
    alerts.retry_undelivered()
    days, last = new_incident_days(context.instance, int(context.cursor or 0))
    sent: list[str] = []
    for day in days:
        report = build_health_report(store, day, t)
        specs = drift_alerts(report, day) + digest_alerts(digest_counts(store, day, day), t)
        sent += _send(alerts, specs)
    context.update_cursor(str(last))
    return dg.SkipReason(f"{days}: alerts sent: {sent}" if sent else f"no alert for {days}")


@dg.run_failure_sensor(
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Alerts when a run fails.",
)
def run_failure_alert_sensor(context: dg.RunFailureSensorContext, alerts: AlertSink) -> None:
    run = context.dagster_run
    message = context.failure_event.message or "run failed"
    alerts.send(
        "ERROR",
        "RUN_FAILED",
        f"run {run.run_id[:8]} of {run.job_name} failed",
        {
            "run_id": run.run_id,
            "partition": run.tags.get("dagster/partition"),
            "message": message[:300],
        },
    )


def failed_checks(instance: dg.DagsterInstance, run_id: str) -> list[dict[str, str]]:
    """ERROR-severity asset checks that did not pass in a run."""
    out = []
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION):
        evaluation = entry.dagster_event.event_specific_data if entry.dagster_event else None
        if not isinstance(evaluation, AssetCheckEvaluation) or evaluation.passed:
            continue
        if evaluation.severity != dg.AssetCheckSeverity.ERROR:
            continue
        out.append({"asset": evaluation.asset_key.to_user_string(), "check": evaluation.check_name})
    return out


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Alerts on failed ERROR asset checks of successful runs (non-blocking checks).",
)
def check_failure_alert_sensor(context: dg.RunStatusSensorContext, alerts: AlertSink) -> None:
    failures = failed_checks(context.instance, context.dagster_run.run_id)
    if failures:
        alerts.send(
            "ERROR",
            "CHECK_FAILED",
            f"{len(failures)} asset check(s) failed in run {context.dagster_run.run_id[:8]}",
            {"run_id": context.dagster_run.run_id, "checks": failures},
        )
