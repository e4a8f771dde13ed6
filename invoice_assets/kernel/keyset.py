"""A set of strings in 16 bytes each: the invoice keys a day's extraction has seen so far.

What it is for: marking duplicate invoices across the batches of a day (``mark_duplicates``)
without holding every key as a Python string (~120 bytes each in a ``set``: 1.2 GB for a
10M-invoice day). Each key is kept as its 120-bit BLAKE2b digest in sorted numpy arrays; only
the current batch's keys are Python strings. Two different keys share a digest
with probability ~n²/2¹²¹ (~10⁻²² for 10M keys).

Not for: anything that must list the keys back (only membership and the count are kept).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

import numpy as np

RUN_CAP = 1 << 21  # digests per sorted run (32 MiB): merging two never copies more


class KeySet:
    """``in``, ``add`` and ``len`` over strings, 16 bytes a key once settled.

    Used batch by batch: ``expect(keys)`` settles the keys added so far and looks the batch's keys
    up among the settled ones at once (one vectorised search per sorted run); until the next
    ``expect``, ``in`` and ``add`` cost a Python set lookup for those keys (others are searched
    one by one). Settled digests are kept in sorted runs of at most ``RUN_CAP``, merged like a
    binary counter below that size, so settling never copies more than two runs at once (one
    sorted array would be copied whole on every insert: twice the keys' memory at the end)."""

    def __init__(self) -> None:
        self._runs: list[np.ndarray] = []
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
        found = np.zeros(len(digests), dtype=bool)
        if not len(digests):
            return found
        for run in self._runs:
            at = np.searchsorted(run, digests).clip(0, len(run) - 1)
            found |= run[at] == digests
        return found

    def _settle(self) -> None:
        if not self._batch:
            return
        added = np.unique(self._digests(self._batch))  # sorted
        self._batch = set()
        added = added[~self._settled(added)]
        if not len(added):
            return
        self._runs.append(added)
        while (
            len(self._runs) > 1
            and len(self._runs[-2]) <= len(self._runs[-1])
            and len(self._runs[-2]) + len(self._runs[-1]) <= RUN_CAP
        ):
            last = self._runs.pop()
            merged = np.concatenate([self._runs.pop(), last])
            merged.sort(kind="stable")
            self._runs.append(merged)

    def expect(self, keys: Sequence[str]) -> None:
        """Settle the keys added so far and look ``keys`` up among them."""
        self._settle()
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
        return sum(len(run) for run in self._runs) + len(self._batch)
