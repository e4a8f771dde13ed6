"""Run summaries and health reports from the store: gather the frames, call the domain.

Shared by the ``run_summary`` / ``system_health_report`` assets, the ops API and the CLI, so a
window's numbers are the same wherever they are read. Windows select by inbox day (the
partition), so a backfill's summary describes its days, not the hour it ran.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from invoice_assets.domain.days import day_bounds
from invoice_assets.domain.health import system_health_report
from invoice_assets.domain.summary import run_summary
from invoice_assets.kernel.clock import SYSTEM_CLOCK, Clock
from resources.store import InvoiceStore

if TYPE_CHECKING:
    from invoice_assets.domain.thresholds import Thresholds

WINDOW_DAYS = 7
CALL_COLUMNS = ["pipeline_total_ms", "extraction_ms", "http_status"]
HEALTH_FACTS = [
    "day",
    "supplier",
    "supplier_id",
    "has_mismatch",
    "mismatch_ratio",
    "suspect_reason",
]
HEALTH_READ_DAYS = 31  # report days per read of a range (their windows reach 13 days earlier)


def build_run_summary(
    store: InvoiceStore,
    first_day: str,
    last_day: str,
    t: Thresholds,
    clock: Clock = SYSTEM_CLOCK,
) -> dict[str, Any]:
    """The run summary over inbox days [first_day, last_day], generated at ``clock.now()``."""
    return run_summary_with_queue(store, first_day, last_day, t, clock)[0]


def run_summary_with_queue(
    store: InvoiceStore,
    first_day: str,
    last_day: str,
    t: Thresholds,
    clock: Clock = SYSTEM_CLOCK,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The run summary and the queue facts it was judged from (``store.queue_state``), which
    ``domain.summary.restamp`` needs to serve it again later.

    Counts come pre-aggregated from the database (``GROUP BY``); per invoice only the two
    latency columns (for the percentiles) and the extraction call's status code are read."""
    start, _ = day_bounds(first_day)
    _, end = day_bounds(last_day)
    invoices = store.invoice_groups(first_day, last_day)
    # One pass over the extraction rows: the latencies and the extraction calls' status codes.
    calls = store.invoice_facts(first_day, last_day, CALL_COLUMNS)
    incidents = store.incident_groups(first_day, last_day)
    # Status codes: API requests, then extraction calls.
    codes = pd.concat(
        [store.request_code_counts(start, end), _code_counts(calls["http_status"])],
        ignore_index=True,
    )
    # Queue samples are wall-clock facts: the depth seen from the window start until now.
    now = clock.now()
    queue = store.queue_state(t.Recovery.STUCK_MINUTES, since=start, now=now)
    again = store.re_arrival_count(first_day, last_day)
    document = run_summary(start, end, now, invoices, incidents, codes, queue, calls, again)
    return document, queue


def _code_counts(codes: pd.Series) -> pd.DataFrame:
    """Known status codes with their count: columns ``code`` and ``n``."""
    counted = codes.dropna().astype("int64").value_counts().sort_index()
    return pd.DataFrame({"code": counted.index.to_numpy(), "n": counted.to_numpy()}, dtype="int64")


def health_window(day: str) -> tuple[str, str]:
    """The inbox days a health report at ``day`` reads: its window and the one before."""
    end = date.fromisoformat(day)
    return (end - timedelta(days=2 * WINDOW_DAYS - 1)).isoformat(), day


def build_health_report(store: InvoiceStore, day: str, t: Thresholds) -> dict[str, Any]:
    """The system health report for the window ending at ``day``."""
    return build_health_reports(store, [day], t)[day]


def build_health_reports(
    store: InvoiceStore, days: Sequence[str], t: Thresholds
) -> dict[str, dict[str, Any]]:
    """The health report of each of ``days`` (e.g. a backfill's range), in their order.

    The facts of a run of days (at most ``HEALTH_READ_DAYS`` calendar days, which bounds the
    memory of long backfills) are read once, with the 2 x 7-day window of its first day, and
    each report gets only its own window's rows: the same report as one read per day."""
    reports: dict[str, dict[str, Any]] = {}
    for chunk in _spans(sorted(set(days)), HEALTH_READ_DAYS):
        first, last = health_window(chunk[0])[0], chunk[-1]
        invoices = _by_day(store.invoice_facts(first, last, HEALTH_FACTS))
        incidents = _by_day(store.incident_frame(first, last))
        for day in chunk:
            lo, hi = health_window(day)
            reports[day] = system_health_report(
                _days(invoices, lo, hi),
                _days(incidents, lo, hi),
                date.fromisoformat(day),
                WINDOW_DAYS,
                t,
            )
    return {day: reports[day] for day in days}


def _spans(days: list[str], span: int) -> list[list[str]]:
    """Sorted ISO days cut into runs that each cover fewer than ``span`` calendar days."""
    runs: list[list[str]] = []
    for day in days:
        if runs and (date.fromisoformat(day) - date.fromisoformat(runs[-1][0])).days < span:
            runs[-1].append(day)
        else:
            runs.append([day])
    return runs


def _by_day(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows ordered by inbox day (stable: the database's order within a day is kept); a frame
    already in that order (e.g. one day's rows) is not copied."""
    if frame["day"].is_monotonic_increasing:
        return frame.reset_index(drop=True)
    return frame.sort_values("day", kind="stable").reset_index(drop=True)


def _days(frame: pd.DataFrame, first_day: str, last_day: str) -> pd.DataFrame:
    """The rows of inbox days [first_day, last_day] of a frame ordered by ``day`` (ISO text)."""
    days = frame["day"].to_numpy()
    lo = int(np.searchsorted(days, first_day, side="left"))
    hi = int(np.searchsorted(days, last_day, side="right"))
    return frame.iloc[lo:hi]
