"""Memory management for bulk work: building many small documents at once."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
from collections.abc import Callable, Iterator
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


def _libc_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.malloc_trim  # type: ignore[no-any-return]
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to trim
        return None


_TRIM = _libc_trim()


def release_free_memory() -> None:
    """Give the C heap's free pages back to the operating system (glibc ``malloc_trim``).

    After a chunk's frames are freed, glibc keeps their pages for reuse; across a day of chunks
    whose object columns and arrays are allocated in different sizes, the kept pages add up
    (RSS grew ~8 MiB a chunk in a 10M-invoice day's offers). Called between chunks, it bounds
    the process's RSS by what is alive. A no-op where the C library has no ``malloc_trim``."""
    if _TRIM is not None:
        _TRIM(0)
