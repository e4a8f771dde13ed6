"""Total mismatch (SPEC §5.3): printed total vs the sum of the printed parts.

Severity S2 when the ratio or the delta crosses its threshold; S1 only when both severe
thresholds are crossed (small-invoice protection: the seed's S2 fixture, 8 000 TL at 16 %, stays
S2). The reason candidates and the OCR-suspect rule are part of the rule's definition, so their
fixed parameters live here rather than in the thresholds file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from invoice_assets.domain.arrays import columns_frame, first_match
from invoice_assets.domain.records import KEY_FIELDS

if TYPE_CHECKING:
    from invoice_assets.domain.thresholds import Thresholds

# Rule definition (SPEC §5.3), not tunable thresholds:
MIN_DENOMINATOR_TL = 0.01  # ratio = delta / max(invoice_total, this)
LOCALE_SCALES = (10.0, 100.0, 1000.0, 0.1, 0.01, 0.001)  # decimal or thousands separator slips
LOCALE_BAND = 0.02  # total / computed within 2 % of a scale
VAT_BAND = 0.01  # delta within 1 % of the computed VAT: VAT missing or doubled
LINE_ITEM_MISSING_SHARE = 0.15  # ratio above this suggests a missing line item

REASONS = (  # first match wins, in this order; UNKNOWN when nothing else fits
    "ROUNDING",
    "EXPLAINABLE_ADJUSTMENT",
    "LOCALE_SCALE",
    "VAT_CALCULATION",
    "LINE_ITEM_MISSING",
    "ADJUSTMENT",
    "UNKNOWN",
)


def min_key_confidence(invoices: pd.DataFrame) -> np.ndarray:
    """The lowest confidence among consumption, unit price and invoice total."""
    columns = [invoices[f"conf_{name}"].to_numpy(dtype="float64") for name in KEY_FIELDS]
    return np.fmin.reduce(columns)  # NaN only where every confidence is missing


def assess_mismatch(
    invoice_total: np.ndarray,
    computed_total: np.ndarray,
    computed_vat: np.ndarray,
    min_confidence: np.ndarray,
    t: Thresholds,
) -> pd.DataFrame:
    """mismatch_info columns for each invoice; not evaluated where a total is missing or ≤ 0."""
    m = t.Mismatch
    invoice_total = np.asarray(invoice_total, dtype="float64")
    computed_total = np.asarray(computed_total, dtype="float64")
    with np.errstate(all="ignore"):
        evaluated = np.isfinite(invoice_total) & np.isfinite(computed_total) & (invoice_total > 0)
        delta = np.abs(invoice_total - computed_total)
        ratio = delta / np.maximum(invoice_total, MIN_DENOMINATOR_TL)
        rounding = evaluated & (delta < m.ROUNDING_DELTA) & (ratio < m.ROUNDING_RATIO)
        has = evaluated & ~rounding & ((ratio >= m.RATIO) | (delta >= m.ABSOLUTE))
        severe = has & (ratio >= m.SEVERE_RATIO) & (delta >= m.SEVERE_ABSOLUTE)
        scale = invoice_total / computed_total
        locale = np.zeros(len(scale), dtype=bool)
        for factor in LOCALE_SCALES:
            locale |= np.abs(scale / factor - 1.0) <= LOCALE_BAND
        vat = np.asarray(computed_vat, dtype="float64")
        vat_slip = (vat > 0) & (np.abs(delta - vat) <= VAT_BAND * vat)
    low_conf = np.asarray(min_confidence, dtype="float64") < t.Validation.LOW_CONFIDENCE
    ocr = has & (low_conf | locale)
    with np.errstate(invalid="ignore"):
        reason = first_match(
            [
                ~evaluated,
                rounding,
                ~has,
                locale,
                vat_slip,
                ratio > LINE_ITEM_MISSING_SHARE,
                delta < m.SEVERE_ABSOLUTE,
            ],
            [None, *REASONS[:-1]],
            default=REASONS[-1],
        )
    return columns_frame(
        {
            "mismatch_evaluated": evaluated,
            "has_mismatch": has,
            "mismatch_delta": np.where(evaluated, delta, np.nan),
            "mismatch_ratio": np.where(evaluated, ratio, np.nan),
            "mismatch_severity": first_match([severe, has], ["S1", "S2"]),
            "delta_reason_candidate": reason,
            "suspect_reason": first_match([ocr], ["OCR_LOCALE_SUSPECT"]),
        }
    )


_FACTS = (
    "has_mismatch",
    "invoice_total_with_vat_tl",
    "computed_total_tl",
    "mismatch_delta",
    "mismatch_ratio",
    "mismatch_severity",
    "delta_reason_candidate",
    "suspect_reason",
)


def mismatch_info(row: pd.Series | dict) -> dict:
    """The mismatch_info document of one invoice, with or without a mismatch (tests and tools:
    the smoke expectations): the same document ``mismatch_infos`` builds for incidents."""
    facts = pd.DataFrame({name: [row.get(name)] for name in _FACTS})
    return _documents(facts)[0]


def _presented(values: np.ndarray, digits: int) -> list[float | None]:
    with np.errstate(all="ignore"):  # rounding 1e308 overflows to inf: shown as None
        rounded = np.round(np.asarray(values, dtype="float64"), digits)
    out: list[float | None] = rounded.tolist()
    for i in np.flatnonzero(~np.isfinite(rounded)).tolist():
        out[i] = None
    return out


def mismatch_infos(facts: pd.DataFrame) -> list[dict | None]:
    """``mismatch_info`` for every row of ``facts`` (None where there is no mismatch), with the
    rounding done column-wise: the per-row work is only assembling the documents."""
    out: list[dict | None] = [None] * len(facts)
    has = np.flatnonzero(facts["has_mismatch"].to_numpy(dtype=bool))
    for i, info in zip(has.tolist(), _documents(facts.iloc[has]), strict=True):
        out[i] = info
    return out


def _documents(rows: pd.DataFrame) -> list[dict]:
    """One mismatch_info document per row of ``rows`` (money to 2 dp, ratios to 6 dp, None for
    a missing number or label; ``suspect_reason`` only when there is one)."""
    columns = zip(
        rows["has_mismatch"].to_numpy(dtype=bool).tolist(),
        _presented(rows["invoice_total_with_vat_tl"].to_numpy(), 2),
        _presented(rows["computed_total_tl"].to_numpy(), 2),
        _presented(rows["mismatch_delta"].to_numpy(), 2),
        _presented(rows["mismatch_ratio"].to_numpy(), 6),
        _texts(rows["mismatch_severity"]),
        _texts(rows["delta_reason_candidate"]),
        _texts(rows["suspect_reason"]),
        strict=True,
    )
    out = []
    for has, total, computed, delta, ratio, severity, reason, suspect in columns:
        info = {
            "has_mismatch": has,
            "invoice_total": total,
            "computed_total": computed,
            "delta": delta,
            "ratio": ratio,
            "severity": severity,
            "delta_reason_candidate": reason,
        }
        if suspect:
            info["suspect_reason"] = suspect
        out.append(info)
    return out


def _texts(values: pd.Series) -> list[str | None]:
    """A label column as a list, None for a missing label (None or NaN)."""
    return values.astype(object).where(values.notna(), None).tolist()
