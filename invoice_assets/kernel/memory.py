"""Memory management for bulk work: building many small documents at once."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many small documents at once.

    Tens of thousands of new dicts and lists trigger repeated collections that walk every live
    container (~40 % of building incident documents for 1M invoices). The documents hold no
    reference cycles, so nothing is lost; the collector is resumed (if it was on) afterwards.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
