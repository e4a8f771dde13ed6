"""Small vectorised helpers shared by the rules (labels chosen by ordered conditions)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def first_match(
    conditions: Sequence[np.ndarray], labels: Sequence[str | None], default: str | None = None
) -> np.ndarray:
    """Per row, the label of the first true condition (an object array; ``default`` if none)."""
    n = len(conditions[0]) if conditions else 0
    out = np.full(n, default, dtype=object)
    decided = np.zeros(n, dtype=bool)
    for condition, label in zip(conditions, labels, strict=True):
        take = np.asarray(condition, dtype=bool) & ~decided
        out[take] = label
        decided |= take
    return out


def rate(numerator: float, denominator: float) -> float:
    """numerator / denominator as a float, 0.0 on a zero denominator (the SPEC's rule for rates)."""
    return float(numerator) / float(denominator) if denominator else 0.0
