"""Run summaries served from memory until the store changes (``/admin/run-summary``).

A summary over a 2,000-invoice day costs ~15 ms of queries and percentiles; a dashboard polling
it from many screens would keep the server busy recomputing the same answer. Entries are keyed by
the window and the store's last-write marker (``InvoiceStore.last_write``, moved by every
committed write in any process): the marker is read first (one indexed row), and a hit is served
as long as it has not moved, so a write that changes a summary is seen by the next request.
What changes with time alone (``generated_at``, whether the waiting queue has become stuck) is
re-judged on every answer (``domain.summary.restamp``).

Concurrent misses of one key compute once (the others wait for that result); entries are
bounded (least recently used go first). Each server process has its own cache.

Not for: what a summary contains (``invoice_assets/services/reporting.py`` and the domain).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from invoice_assets.domain.summary import restamp
from invoice_assets.kernel.clock import SYSTEM_CLOCK, Clock
from invoice_assets.services.reporting import run_summary_with_queue

if TYPE_CHECKING:
    from invoice_assets.domain.thresholds import Thresholds
    from resources.store import InvoiceStore

Key = tuple[str, str, int]
Entry = tuple[dict[str, Any], dict[str, Any]]  # (summary, queue facts)


class SummaryCache:
    """Run summaries by (first day, last day, store marker), at most ``size`` of them."""

    def __init__(self, size: int = 64, clock: Clock = SYSTEM_CLOCK) -> None:
        self.clock = clock
        self.size = size
        self._entries: OrderedDict[Key, Entry] = OrderedDict()
        self._computing: dict[Key, threading.Lock] = {}
        self._lock = threading.Lock()
        self.hits = self.misses = 0  # for tests and /metrics-style inspection

    def get(
        self, store: InvoiceStore, first_day: str, last_day: str, t: Thresholds
    ) -> dict[str, Any]:
        marker = store.last_write()  # before any data is read: see resources/store/marker.py
        if marker is None:  # a store without the marker: nothing can be trusted to stay
            return run_summary_with_queue(store, first_day, last_day, t, self.clock)[0]
        key = (first_day, last_day, marker)
        entry = self._cached(key)
        if entry is None:
            with self._lock:
                gate = self._computing.setdefault(key, threading.Lock())
            with gate:  # one computation per key; the others find its result after it
                entry = self._cached(key)
                if entry is None:
                    entry = run_summary_with_queue(store, first_day, last_day, t, self.clock)
                    self._store(key, entry)
            with self._lock:
                self._computing.pop(key, None)
        summary, queue = entry
        return restamp(summary, queue, self.clock.now(), t.Recovery.STUCK_MINUTES)

    def _cached(self, key: Key) -> Entry | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                self.hits += 1
            return entry

    def _store(self, key: Key, entry: Entry) -> None:
        with self._lock:
            self.misses += 1
            for stale in [k for k in self._entries if k[:2] == key[:2] and k[2] < key[2]]:
                del self._entries[stale]  # an older marker of the window can never match again
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
