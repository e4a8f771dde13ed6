"""The daily schedule: at 01:00 Europe/Istanbul, materialise the previous day's partition.

Freshness: a day's assets must be materialised by ``FRESHNESS_DEADLINE_CRON`` (06:00 Istanbul,
five hours after the schedule); the freshness checks fail otherwise, and their sensor evaluates
them so staleness is visible in the UI without anyone running them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dagster as dg

from invoice_assets.domain.days import TIMEZONE
from invoice_assets.services.run_tags import TRIGGER_TAG

SCHEDULE_HOUR = 1
FRESHNESS_DEADLINE_CRON = "0 6 * * *"


def build_daily_schedule(job: dg.UnresolvedAssetJobDefinition) -> Any:
    return dg.build_schedule_from_partitioned_job(
        job,
        hour_of_day=SCHEDULE_HOUR,
        minute_of_hour=0,
        name="daily_invoices_schedule",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        tags={TRIGGER_TAG: "schedule"},
        description=(
            "Materialises yesterday's inbox day at 01:00 Europe/Istanbul. A day not materialised "
            "by 06:00 fails the freshness checks of the daily assets."
        ),
    )


def build_freshness(
    assets: Sequence[dg.AssetsDefinition],
) -> tuple[Sequence[dg.AssetChecksDefinition], dg.SensorDefinition]:
    """Freshness checks on the daily assets (the latest day materialised by the deadline) and
    the sensor that evaluates them."""
    checks = dg.build_time_partition_freshness_checks(
        assets=list(assets),
        deadline_cron=FRESHNESS_DEADLINE_CRON,
        timezone=TIMEZONE,
        severity=dg.AssetCheckSeverity.WARN,
    )
    sensor = dg.build_sensor_for_freshness_checks(
        freshness_checks=checks,
        name="freshness_checks_sensor",
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    return checks, sensor
