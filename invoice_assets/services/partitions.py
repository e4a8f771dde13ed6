"""Daily partitions: a partition is the day an invoice file arrived in the inbox (Istanbul time).

``DailyLayout`` says where the partitions start and how a range is backfilled; the definitions
build it from the settings (``INVOICE_PARTITIONS_START``, ``INVOICE_BACKFILL_POLICY``), so
nothing here reads the environment.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import cached_property

import dagster as dg

from invoice_assets.domain.days import TIMEZONE

ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
DEFAULT_START = "2024-01-01"
SINGLE_RUN, PER_DAY = "single_run", "per_day"
BACKFILL_POLICIES = (SINGLE_RUN, PER_DAY)


@dataclass(frozen=True)
class DailyLayout:
    """Where the daily partitions start and how a range of them is backfilled.

    ``single_run`` (the default): a range is one run (one machine, short ranges; every asset
    reports each day on its own). ``per_day``: one run per day, which a queue and a run launcher
    can spread over workers.
    """

    start: str = DEFAULT_START
    backfill: str = SINGLE_RUN

    def __post_init__(self) -> None:
        if not ISO_DAY.fullmatch(self.start):
            raise ValueError(f"not a day YYYY-MM-DD: {self.start!r}")
        date.fromisoformat(self.start)  # ValueError on 2025-02-30
        if self.backfill not in BACKFILL_POLICIES:
            raise ValueError(f"backfill policy must be one of {BACKFILL_POLICIES}")

    @cached_property
    def partitions(self) -> dg.DailyPartitionsDefinition:
        return dg.DailyPartitionsDefinition(start_date=self.start, timezone=TIMEZONE)

    def missing(self, days: Sequence[str], now: datetime | None = None) -> list[str]:
        """The days that are not partitions (yet): before the start, or not over by ``now``."""
        existing = set(self.partitions.get_partition_keys(current_time=now))
        return [day for day in days if day not in existing]

    @property
    def backfill_policy(self) -> dg.BackfillPolicy:
        if self.backfill == PER_DAY:
            return dg.BackfillPolicy.multi_run(max_partitions_per_run=1)
        return dg.BackfillPolicy.single_run()


def partition_days(context: dg.AssetExecutionContext) -> list[str]:
    """The days this run materialises: one, or the whole range of a single-run backfill."""
    if context.has_partition_key_range:
        return list(context.partition_keys)
    return [context.partition_key]
