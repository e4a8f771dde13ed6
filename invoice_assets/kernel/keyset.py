"""A set of strings in 16 bytes each: the invoice keys a day's extraction has seen so far.

What it is for: marking duplicate invoices across the batches of a day (``mark_duplicates``)
without holding every key as a Python string (~120 bytes each in a ``set``: 1.2 GB for a
10M-invoice day). Each key is kept as its 120-bit BLAKE2b digest in a sorted numpy array; only
the current batch's keys are Python strings. Two different keys share a digest
with probability ~n²/2¹²¹ (~10⁻²² for 10M keys).

Not for: anything that must list the keys back (only membership and the count are kept).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

import numpy as np


class KeySet:
    """``in``, ``add`` and ``len`` over strings, 16 bytes a key once settled.

    Used batch by batch: ``expect(keys)`` settles the keys added so far into the sorted array
    and looks the batch's keys up in it at once (one vectorised search); until the next
    ``expect``, ``in`` and ``add`` cost a Python set lookup for those keys (others are searched
    one by one)."""

    def __init__(self) -> None:
        self._sorted = np.empty(0, dtype="S16")
        self._batch: set[str] = set()  # added since the last ``expect``
        self._expected: set[str] = set()  # looked up by the last ``expect`` …
        self._earlier: set[str] = set()  # … and found among the settled keys

    @staticmethod
    def _digests(keys: Iterable[str]) -> np.ndarray:
        # 15 bytes of digest and a final 0x01: numpy's ``S16`` drops trailing NUL bytes when it
        # hands an element back, so no kept value may end in one.
        return np.array(
            [hashlib.blake2b(k.encode("utf-8"), digest_size=15).digest() + b"\x01" for k in keys],
            dtype="S16",
        )

    def _settled(self, digests: np.ndarray) -> np.ndarray:
        if not len(self._sorted) or not len(digests):
            return np.zeros(len(digests), dtype=bool)
        at = np.searchsorted(self._sorted, digests).clip(0, len(self._sorted) - 1)
        return np.asarray(self._sorted[at] == digests)

    def expect(self, keys: Sequence[str]) -> None:
        """Settle the keys added so far and look ``keys`` up among them."""
        if self._batch:
            added = np.unique(self._digests(self._batch))
            added = added[~self._settled(added)]
            self._sorted = np.insert(self._sorted, np.searchsorted(self._sorted, added), added)
            self._batch = set()
        found = self._settled(self._digests(keys)).tolist()
        self._expected = set(keys)
        self._earlier = {k for k, hit in zip(keys, found, strict=True) if hit}

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        if key in self._batch or key in self._earlier:
            return True
        return key not in self._expected and bool(self._settled(self._digests([key]))[0])

    def add(self, key: str) -> None:
        if key in self._batch or key in self._earlier:
            return
        if key in self._expected or not self._settled(self._digests([key]))[0]:
            self._batch.add(key)

    def __len__(self) -> int:
        return len(self._sorted) + len(self._batch)
