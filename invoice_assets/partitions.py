"""Daily partitions: a partition is the day an invoice file arrived in the inbox (Istanbul time)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import dagster as dg

TIMEZONE = "Europe/Istanbul"
START_DATE = "2024-01-01"

daily_partitions = dg.DailyPartitionsDefinition(start_date=START_DATE, timezone=TIMEZONE)


def partition_days(context: dg.AssetExecutionContext) -> list[str]:
    """The days this run materialises: one, or the whole range of a single-run backfill."""
    if context.has_partition_key_range:
        return list(context.partition_keys)
    return [context.partition_key]


def day_bounds(day: str) -> tuple[datetime, datetime]:
    """[start, end) of an inbox day as aware datetimes in Istanbul time."""
    start = datetime.combine(datetime.fromisoformat(day).date(), time(0), tzinfo=ZoneInfo(TIMEZONE))
    return start, start + timedelta(days=1)
