"""Where the demo generator puts its injected mismatches, and which incident the SPEC rules
(§5.1–§5.5) predict for an invoice, both read from the live thresholds.

The windows keep an injected magnitude away from every threshold boundary, so the demo's
expectations hold however the pipeline rounds. The prediction is computed from the printed numbers
here, never by running the pipeline: the demo test compares the two. Not for: the pipeline's own
flagging (``invoice_assets/domain/``), nor building or printing records (``records.py``,
``output.py``).
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from invoice_assets.domain.flags import CATALOGUE
from invoice_assets.domain.mismatch import LINE_ITEM_MISSING_SHARE, MIN_DENOMINATOR_TL

if TYPE_CHECKING:
    from invoice_assets.domain.thresholds import Thresholds


def s2_window(t: Thresholds) -> tuple[float, float]:
    """Ratios that make an S2 mismatch: at or above RATIO, below every S1, hard-stop and
    missing-line-item boundary (so the delta reason stays an adjustment, not a missing line)."""
    low = t.Mismatch.RATIO
    high = min(LINE_ITEM_MISSING_SHARE, t.Mismatch.SEVERE_RATIO, t.Validation.HARD_STOP_DELTA / 100)
    return _inner(low, high)


def s1_window(t: Thresholds) -> tuple[float, float]:
    """Ratios that make an S1 mismatch: past SEVERE_RATIO and the hard stop, short of a locale
    slip (a total 10x its parts would read as an OCR separator error)."""
    low = max(t.Mismatch.SEVERE_RATIO, t.Validation.HARD_STOP_DELTA / 100, t.Mismatch.RATIO)
    return low + 0.05, max(low + 0.1, 0.6)


def _inner(low: float, high: float) -> tuple[float, float]:
    """The middle 60 % of [low, high): away from both boundaries."""
    span = max(high - low, 0.0)
    return low + 0.2 * span, high - 0.2 * span


def inflate(
    rng: random.Random,
    computed: float,
    window: tuple[float, float],
    min_delta: float,
    vat: float,
) -> float:
    """A printed total above its parts by a ratio in ``window`` and at least ``min_delta`` TL.

    ratio = delta / total and total = computed + delta, so total = computed / (1 - ratio). A delta
    close to the VAT would read as a VAT slip, so such a ratio is drawn again.
    """
    low, high = window
    floor = 1.2 * min_delta / (computed + 1.2 * min_delta)  # ratio that gives that delta
    low = min(max(low, floor), high)
    for _ in range(20):
        ratio = rng.uniform(low, high)
        total = round(computed / (1.0 - ratio), 2)
        if abs((total - computed) - vat) > 0.05 * vat:
            break
    return total


def expected_incident(
    *,
    total: float | None,
    computed: float,
    market_missing: bool,
    lookup_failed: bool,
    t: Thresholds,
) -> tuple[str, str] | None:
    """The incident SPEC §5.1–§5.5 predict: the S1/S2 flag of lowest priority number, or None."""
    flags: list[tuple[str, str]] = []
    ready = True
    if total is None or total <= 0:
        flags.append(("MISSING_FIELDS", CATALOGUE["MISSING_FIELDS"].severity))
        ready = False
    else:
        m = t.Mismatch
        delta = abs(total - computed)
        ratio = delta / max(total, MIN_DENOMINATOR_TL)
        rounding = delta < m.ROUNDING_DELTA and ratio < m.ROUNDING_RATIO
        if not rounding and (ratio >= m.RATIO or delta >= m.ABSOLUTE):
            severe = ratio >= m.SEVERE_RATIO and delta >= m.SEVERE_ABSOLUTE
            flags.append(("INVOICE_TOTAL_MISMATCH", "S1" if severe else "S2"))
        if 100.0 * ratio >= t.Validation.HARD_STOP_DELTA:
            ready = False  # TOTAL_HARD_STOP: pricing stops, no second flag
    if ready and market_missing:
        flags.append(("MARKET_PRICE_MISSING", CATALOGUE["MARKET_PRICE_MISSING"].severity))
    if ready and lookup_failed:
        flags.append(("TARIFF_LOOKUP_FAILED", CATALOGUE["TARIFF_LOOKUP_FAILED"].severity))
    if not flags:
        return None
    return min(flags, key=lambda flag: CATALOGUE[flag[0]].priority)
