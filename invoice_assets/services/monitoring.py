"""Discovery functions behind the sensors: stuck runs (the digest counts are the store's:
``InvoiceStore.digest_counts``).

Plain functions over the Dagster instance and the store, so tests call them directly and the
sensors stay thin.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import dagster as dg

from invoice_assets.kernel.clock import SYSTEM_CLOCK


def stuck_runs(
    instance: dg.DagsterInstance, stuck_minutes: float, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Runs STARTED whose last event is older than ``stuck_minutes``."""
    now = SYSTEM_CLOCK.now() if now is None else now
    limit = now - timedelta(minutes=stuck_minutes)
    out = []
    for record in instance.get_run_records(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])):
        last = record.update_timestamp
        if last.tzinfo is None:
            last = last.replace(tzinfo=now.tzinfo)
        if last <= limit:
            out.append(
                {
                    "run_id": record.dagster_run.run_id,
                    "job": record.dagster_run.job_name,
                    "last_event_at": last.isoformat(),
                    "idle_minutes": round((now - last).total_seconds() / 60.0, 1),
                }
            )
    return out
