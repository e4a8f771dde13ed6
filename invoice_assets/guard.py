"""The guard code location: alerts that must reach the operator even when the main code location
(``invoice_assets.definitions``) cannot load.

A broken config stops the main location from loading, on purpose (SPEC §1 question 5), and with
it every sensor it defines, so nothing there could say so. This location loads without the
thresholds (its definitions are built lazily, its imports do not read them) and runs two sensors:

* ``location_guard_sensor`` (every 30 s): builds the main location's definitions from the same
  environment; a failure raises CONFIG_INVALID (every threshold violation listed) or
  LOCATION_LOAD_FAILED, once per day and per distinct problem, and CONFIG_RESTORED once it loads
  again.
* ``run_failure_alert_sensor``: a failed run of any code location raises RUN_FAILED.

Not for: the pipeline's own alerts (``invoice_assets.automation.sensors``).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping

import dagster as dg

from invoice_assets.domain.days import local_day
from invoice_assets.domain.digest import AlertSpec
from invoice_assets.kernel.clock import SYSTEM_CLOCK
from invoice_assets.services.settings import Settings
from resources.alerts import AlertSink
from resources.store import InvoiceStore

GUARD_INTERVAL_SECONDS = 30
VALID = "valid"


def location_problem(env: Mapping[str, str]) -> AlertSpec | None:
    """Why the main code location would not load from ``env`` (None when it loads)."""
    from invoice_assets.domain.thresholds import ThresholdsError

    today = local_day(SYSTEM_CLOCK.now()).isoformat()
    try:
        from invoice_assets.definitions import build_definitions

        build_definitions(env)
    except ThresholdsError as exc:
        violations = [str(v) for v in exc.violations]
        return AlertSpec(
            "CRITICAL",
            "CONFIG_INVALID",
            f"{len(violations)} threshold violation(s) in {exc.source}: the invoice_assets "
            "code location refuses to load (no runs, no schedule, no pipeline sensors)",
            {"source": exc.source, "violations": violations[:20]},
            day=today,
            subject=_digest(exc.source, *violations),
        )
    except Exception as exc:  # any other reason the location cannot load
        error = f"{type(exc).__name__}: {exc}"[:500]
        return AlertSpec(
            "CRITICAL",
            "LOCATION_LOAD_FAILED",
            "the invoice_assets code location cannot load: " + error,
            {"error": error},
            day=today,
            subject=_digest(error),
        )
    return None


def _digest(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


@dg.sensor(
    minimum_interval_seconds=GUARD_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Loads the invoice_assets code location's definitions from the same environment; "
        "a broken config (or any load failure) reaches the webhook within one interval."
    ),
)
def location_guard_sensor(context: dg.SensorEvaluationContext, alerts: AlertSink) -> dg.SkipReason:
    alerts.retry_undelivered()
    problem = location_problem(os.environ)
    previous = context.cursor or VALID
    if problem is None:
        context.update_cursor(VALID)
        if previous == VALID:
            return dg.SkipReason("the invoice_assets code location loads")
        outcome = alerts.raise_alert(
            AlertSpec(
                "INFO",
                "CONFIG_RESTORED",
                "the invoice_assets code location loads again",
                {"was": previous},
                day=local_day(SYSTEM_CLOCK.now()).isoformat(),
                subject=previous,
            )
        )
        return dg.SkipReason(f"loads again: {outcome}")
    context.update_cursor(problem.subject)
    outcome = alerts.raise_alert(problem)
    context.log.warning("%s: %s", outcome, problem.message)
    return dg.SkipReason(f"{problem.code}: {outcome.outcome} ({problem.message})")


@dg.run_failure_sensor(
    monitor_all_code_locations=True,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Alerts when a run of any code location fails (once per run).",
)
def run_failure_alert_sensor(context: dg.RunFailureSensorContext, alerts: AlertSink) -> None:
    run = context.dagster_run
    message = context.failure_event.message or "run failed"
    day = run.tags.get("dagster/partition") or run.tags.get(
        "dagster/asset_partition_range_start", ""
    )
    alerts.raise_alert(
        AlertSpec(
            "ERROR",
            "RUN_FAILED",
            f"run {run.run_id[:8]} of {run.job_name} failed",
            {
                "run_id": run.run_id,
                "partition": run.tags.get("dagster/partition"),
                "message": message[:300],
            },
            day=day,
            subject=run.run_id,
        )
    )


def build_guard_definitions(env: Mapping[str, str] | None = None) -> dg.Definitions:
    settings = Settings.from_env(os.environ if env is None else env)
    store = InvoiceStore(
        db_url=dg.EnvVar("INVOICE_DB_URL") if settings.db_url else None, home=str(settings.home)
    )
    return dg.Definitions(
        sensors=[location_guard_sensor, run_failure_alert_sensor],
        resources={
            "alerts": AlertSink(
                store=store,
                webhook_url=dg.EnvVar("INVOICE_ALERT_WEBHOOK_URL")
                if settings.webhook_url
                else None,
            )
        },
    )


@dg.definitions
def defs() -> dg.Definitions:
    """Built when Dagster loads the location, not at import."""
    return build_guard_definitions()
