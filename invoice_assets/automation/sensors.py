"""Sensors: thin wrappers over plain discovery functions (tested with ``build_sensor_context``).

* ``inbox_sensor``: a day whose files changed (by content) since its last extraction → a run of
  that day's partition; files for a day without a partition yet stay pending, named in the tick.
* ``stuck_sensor``: runs whose process is known gone are failed and their pool slots freed
  (``dead_runs.reap_dead_runs``, alert DEAD_RUN_REAPED); runs STARTED without a new event, or the
  inbox queue not draining, for Recovery.STUCK_MINUTES → CRITICAL alert.
* ``incident_alerts_sensor``: after ``incidents`` materialises a day, the §5.6 drift of that day
  and the Alert.* digest rules → alerts, and an observation on that day's
  ``system_health_report`` listing them (so the UI shows a day's alerts).
* ``check_failure_alert_sensor``: failed ERROR checks of successful runs → alert (non-blocking
  checks do not fail runs). Run failures are alerted by the guard location
  (``invoice_assets.guard``), which keeps alerting when this location cannot load.

An alert is raised once per (rule, day, tenant[, subject]); every tick says in its skip reason
and log what it sent, updated or suppressed. Every sensor also retries undelivered alerts.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import dagster as dg

from invoice_assets.automation.jobs import DAILY_JOB
from invoice_assets.domain.digest import AlertSpec, digest_alerts, drift_alerts
from invoice_assets.services.dead_runs import reap_dead_runs
from invoice_assets.services.inbox_changes import scan_inbox
from invoice_assets.services.monitoring import stuck_runs
from invoice_assets.services.reporting import build_health_report
from invoice_assets.services.run_tags import TRIGGER_TAG
from resources.alerts import AlertOutcome, AlertSink
from resources.clock import ClockResource
from resources.inbox import InboxResource
from resources.store import InvoiceStore
from resources.thresholds import ThresholdsResource


def said(outcomes: Sequence[AlertOutcome]) -> str:
    """What a tick did with its alerts, for its skip reason and log."""
    if not outcomes:
        return "no alert"
    groups: dict[str, list[str]] = {}
    for outcome in outcomes:
        groups.setdefault(outcome.outcome, []).append(str(outcome))
    return "; ".join(f"{name}: {', '.join(items)}" for name, items in sorted(groups.items()))


def build_inbox_sensor(partitions: dg.PartitionsDefinition) -> dg.SensorDefinition:
    """The inbox sensor for the code location's daily partitions."""

    @dg.sensor(
        name="inbox_sensor",
        job_name=DAILY_JOB,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "Requests a day's partition when its inbox files changed (by content) since the "
            "day's last extraction; files for a day whose partition does not exist yet wait, "
            "named in the tick's skip reason."
        ),
    )
    def inbox_sensor(
        context: dg.SensorEvaluationContext,
        inbox: InboxResource,
        store: InvoiceStore,
        clock: ClockResource,
    ) -> dg.SensorResult:
        confirmed = json.loads(context.cursor) if context.cursor else {}
        scan = scan_inbox(inbox, store, partitions, confirmed, clock.now())
        cursor = json.dumps(scan.listings, sort_keys=True)
        requests = [
            dg.RunRequest(
                partition_key=day,
                run_key=f"inbox-{day}-{fingerprint}",
                tags={TRIGGER_TAG: "sensor"},
            )
            for day, fingerprint in sorted(scan.requests.items())
        ]
        waiting = "; ".join(f"{day}: {why}" for day, why in sorted(scan.pending.items()))
        if waiting:
            context.log.info("pending inbox days: %s", waiting)
        if requests:
            context.log.info("requesting %s", ", ".join(sorted(scan.requests)))
            return dg.SensorResult(run_requests=requests, cursor=cursor)
        reason = f"no changed inbox files; pending: {waiting}" if waiting else "no changed files"
        return dg.SensorResult(skip_reason=reason, cursor=cursor)

    return inbox_sensor


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
    clock: ClockResource,
) -> dg.SkipReason:
    t = thresholds.get()
    now = clock.now()
    alerts.retry_undelivered()
    # runs whose process is known gone (this host) are failed and their pool slots freed, so
    # the next run does not wait for slots nobody will give back
    reaped = reap_dead_runs(context.instance, t.Recovery.STUCK_MINUTES, now)
    if reaped:
        context.log.warning("reaped dead runs: %s", reaped)
    runs = stuck_runs(context.instance, t.Recovery.STUCK_MINUTES, now)
    queue = store.queue_state(t.Recovery.STUCK_MINUTES, now=now)
    queue_stall = queue["last_progress_at"] if queue["stuck_detected"] else None
    stuck_items = len(runs) + (queue["current_depth"] if queue_stall else 0)
    specs = [
        AlertSpec(
            "ERROR",
            "DEAD_RUN_REAPED",
            f"run {entry['run_id'][:8]}: {entry['action']} ({entry['why']})",
            entry,
            subject=f"{entry['run_id']}:{entry['action']}",
        )
        for entry in reaped
    ]
    if stuck_items >= t.Alert.STUCK_COUNT:
        specs += [
            AlertSpec(
                "CRITICAL",
                "STUCK_RUN",
                f"run {run['run_id'][:8]} of {run['job']} without progress since "
                f"{run['last_event_at']}",
                # not its idle minutes: they grow every tick and would make it a new value
                {"runs": [{k: v for k, v in run.items() if k != "idle_minutes"}]},
                subject=run["run_id"],
            )
            for run in runs
        ]
        if queue_stall:
            specs.append(
                AlertSpec(
                    "CRITICAL",
                    "STUCK_QUEUE",
                    f"inbox queue depth {queue['current_depth']} without progress since "
                    f"{queue_stall}",
                    queue,
                    subject=str(queue_stall),
                )
            )
    outcomes = alerts.raise_alerts(specs, now)
    context.log.info("stuck check: %s", said(outcomes))
    return dg.SkipReason(said(outcomes) if outcomes else "nothing stuck")


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


def alerts_observation(day: str, outcomes: Sequence[AlertOutcome]) -> dg.AssetObservation:
    """The day's alerts on its ``system_health_report`` partition, for the UI."""
    lines = ["| rule | outcome | delivered |", "|---|---|---|"]
    lines += [f"| {o.code} | {o.outcome} | {o.delivered} |" for o in outcomes]
    if not outcomes:
        lines.append("| (none) | | |")
    return dg.AssetObservation(
        asset_key="system_health_report",
        partition=day,
        metadata={
            "alerts": dg.MetadataValue.md("\n".join(lines)),
            "alerts_sent": sum(o.outcome == "sent" for o in outcomes),
            "alerts_updated": sum(o.outcome == "updated" for o in outcomes),
            "alerts_suppressed": sum(o.outcome == "suppressed" for o in outcomes),
        },
    )


@dg.sensor(
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "After incidents materialise a day: drift (S1, OCR, mismatch; needs a baseline) and "
        "digest alerts, once per rule and day; the day's alerts are observed on its "
        "system_health_report partition."
    ),
)
def incident_alerts_sensor(
    context: dg.SensorEvaluationContext,
    store: InvoiceStore,
    thresholds: ThresholdsResource,
    alerts: AlertSink,
    clock: ClockResource,
) -> dg.SensorResult:
    t = thresholds.get()
    alerts.retry_undelivered()
    days, last = new_incident_days(context.instance, int(context.cursor or 0))
    observations, told = [], []
    for day in days:
        report = build_health_report(store, day, t)
        specs = drift_alerts(report, day) + digest_alerts(store.digest_counts(day, day), t, day)
        outcomes = alerts.raise_alerts(specs, clock.now())
        observations.append(alerts_observation(day, outcomes))
        told.append(f"{day}: {said(outcomes)}")
    message = " | ".join(told) if told else "no new incidents materialisation"
    context.log.info(message)
    return dg.SensorResult(skip_reason=message, cursor=str(last), asset_events=observations)


def failed_checks(instance: dg.DagsterInstance, run_id: str) -> list[dict[str, str]]:
    """ERROR-severity asset checks that did not pass in a run (with their partition)."""
    out = []
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION):
        evaluation = entry.dagster_event.event_specific_data if entry.dagster_event else None
        if not isinstance(evaluation, dg.AssetCheckEvaluation) or evaluation.passed:
            continue
        if evaluation.severity != dg.AssetCheckSeverity.ERROR:
            continue
        failure = {"asset": evaluation.asset_key.to_user_string(), "check": evaluation.check_name}
        if evaluation.partition:
            failure["partition"] = evaluation.partition
        out.append(failure)
    return out


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Alerts on failed ERROR asset checks of successful runs (non-blocking checks).",
)
def check_failure_alert_sensor(
    context: dg.RunStatusSensorContext, alerts: AlertSink, clock: ClockResource
) -> None:
    run = context.dagster_run
    failures = failed_checks(context.instance, run.run_id)
    if failures:
        outcome = alerts.raise_alert(
            AlertSpec(
                "ERROR",
                "CHECK_FAILED",
                f"{len(failures)} asset check(s) failed in run {run.run_id[:8]}",
                {"run_id": run.run_id, "checks": failures},
                day=run.tags.get("dagster/partition", ""),
                subject=run.run_id,
            ),
            clock.now(),
        )
        context.log.info("check failures: %s", outcome)
