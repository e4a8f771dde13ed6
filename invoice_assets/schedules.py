"""The daily schedule: at 01:00 Europe/Istanbul, materialise the previous day's partition."""

from __future__ import annotations

import dagster as dg

from invoice_assets.jobs import daily_invoices_job

daily_schedule = dg.build_schedule_from_partitioned_job(
    daily_invoices_job,
    hour_of_day=1,
    minute_of_hour=0,
    name="daily_invoices_schedule",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
