"""Run summaries and health reports from the store: gather the frames, call the domain.

Shared by the ``run_summary`` / ``system_health_report`` assets, the ops API and the CLI, so a
window's numbers are the same wherever they are read. Windows select by inbox day (the
partition), so a backfill's summary describes its days, not the hour it ran.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd

from invoice_assets.domain.health import system_health_report
from invoice_assets.domain.summary import run_summary
from invoice_assets.partitions import day_bounds
from resources.store import InvoiceStore, utcnow

if TYPE_CHECKING:
    from resources.thresholds import Thresholds

WINDOW_DAYS = 7


def build_run_summary(
    store: InvoiceStore, first_day: str, last_day: str, t: Thresholds
) -> dict[str, Any]:
    """The run summary over inbox days [first_day, last_day]."""
    start, _ = day_bounds(first_day)
    _, end = day_bounds(last_day)
    invoices = store.invoice_facts(first_day, last_day)
    incidents = store.incident_frame(first_day, last_day)
    codes = store.status_codes(start, end, first_day, last_day)
    # Queue samples are wall-clock facts: the depth seen from the window start until now.
    queue = store.queue_state(t.Recovery.STUCK_MINUTES, since=start)
    return run_summary(
        start, end, utcnow(), invoices, incidents, pd.Series(codes, dtype="int64"), queue
    )


def build_health_report(store: InvoiceStore, day: str, t: Thresholds) -> dict[str, Any]:
    """The system health report for the window ending at ``day``."""
    end = date.fromisoformat(day)
    first = (end - timedelta(days=2 * WINDOW_DAYS - 1)).isoformat()
    invoices = store.invoice_facts(first, day)
    incidents = store.incident_frame(first, day)
    return system_health_report(invoices, incidents, end, WINDOW_DAYS, t)
