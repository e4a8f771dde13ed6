"""Discovery functions behind the sensors: stuck runs, stuck queue, digest counts.

Plain functions over the Dagster instance and the store, so tests call them directly and the
sensors stay thin.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import dagster as dg
from sqlalchemy import func, or_, select

from invoice_assets.kernel.clock import SYSTEM_CLOCK
from resources import store_schema as s
from resources.store import InvoiceStore


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


def digest_counts(store: InvoiceStore, first_day: str, last_day: str) -> dict[str, int]:
    """The counts the Alert.* rules read, over inbox days [first_day, last_day]."""
    i, x = s.incidents, s.extractions
    in_days = i.c.day.between(first_day, last_day)
    with store.engine.connect() as conn:
        incidents = conn.execute(select(func.count()).where(in_days)).scalar_one()
        calc_bug = conn.execute(
            select(func.count()).where(in_days, i.c.primary_flag == "CALC_BUG")
        ).scalar_one()
        past_limit = conn.execute(
            select(func.count()).where(
                i.c.recompute_limit_exceeded.is_(True), i.c.status != "RESOLVED"
            )
        ).scalar_one()
        # an exhausted invoice was attempted (max_attempts times) though no call was made today
        attempted = conn.execute(
            select(func.count()).where(
                x.c.day.between(first_day, last_day),
                or_(x.c.extraction_ms.is_not(None), x.c.error_code == "exhausted"),
            )
        ).scalar_one()
        exhausted = conn.execute(
            select(func.count()).where(
                x.c.day.between(first_day, last_day), x.c.error_code == "exhausted"
            )
        ).scalar_one()
    return {
        "incidents": int(incidents),
        "calc_bug_incidents": int(calc_bug),
        "recompute_limit_exceeded": int(past_limit),
        "extraction_attempted": int(attempted),
        "extraction_exhausted": int(exhausted),
    }
