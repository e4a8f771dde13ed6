"""Quality score and flags (SPEC §5.4).

Every flag is raised from facts computed upstream (extraction status, validation, mismatch,
pricing); the score is 100 minus the catalogue deductions, clamped to [0, 100], graded OK / CHECK /
BAD by the Quality thresholds. Flags come back as a long frame ``(row, flag, severity, deduction,
priority)`` ordered by invoice then priority, which incidents consume directly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from invoice_assets.domain.arrays import columns_frame, first_match
from invoice_assets.domain.flags import CATALOGUE

if TYPE_CHECKING:
    from invoice_assets.domain.thresholds import Thresholds

FLAG_COLUMNS = ("row", "flag", "severity", "deduction", "priority")


# What raise_flags reads, beside the invoices' ``status``: the validation and total-mismatch facts
# (one frame: the ``validations`` stage stores both) and the offers' pricing facts.
FLAG_FACTS = (
    "consumption_missing",
    "other_fields_missing",
    "has_validation_errors",
    "low_confidence",
    "has_warnings",
    "has_mismatch",
    "mismatch_severity",
)
FLAG_OFFER_FACTS = (
    "calc_bug",
    "market_price_missing",
    "market_price_estimated",
    "tariff_lookup_failed",
    "tariff_meta_missing",
    "distribution_mismatch",
)


def raise_flags(invoices: pd.DataFrame, facts: pd.DataFrame, offers: pd.DataFrame) -> pd.DataFrame:
    """The long flag frame; INVOICE_TOTAL_MISMATCH carries the §5.3 severity (S1 or S2).

    ``facts`` holds ``FLAG_FACTS`` (validation and mismatch), ``offers`` ``FLAG_OFFER_FACTS``;
    both row-aligned with ``invoices``.
    """
    validation = mismatch = facts
    sources: dict[str, np.ndarray] = {
        "EXTRACTION_FAILED": (invoices["status"] != "ok").to_numpy(),
        "CALC_BUG": offers["calc_bug"].to_numpy(),
        "MARKET_PRICE_MISSING": offers["market_price_missing"].to_numpy(),
        "CONSUMPTION_MISSING": validation["consumption_missing"].to_numpy(),
        "TARIFF_LOOKUP_FAILED": offers["tariff_lookup_failed"].to_numpy(),
        "TARIFF_META_MISSING": offers["tariff_meta_missing"].to_numpy(),
        "INVOICE_TOTAL_MISMATCH": mismatch["has_mismatch"].to_numpy(),
        "MISSING_FIELDS": validation["other_fields_missing"].to_numpy(),
        "VALIDATION_FAILED": validation["has_validation_errors"].to_numpy(),
        "DISTRIBUTION_MISMATCH": offers["distribution_mismatch"].to_numpy(),
        "LOW_CONFIDENCE": validation["low_confidence"].to_numpy(),
        "VALIDATION_WARNINGS": validation["has_warnings"].to_numpy(),
        "MARKET_PRICE_ESTIMATED": offers["market_price_estimated"].to_numpy(),
    }
    parts = []
    for code, mask in sources.items():
        rows = np.flatnonzero(mask)
        if len(rows) == 0:
            continue
        spec = CATALOGUE[code]
        severity = np.full(len(rows), spec.severity, dtype=object)
        if code == "INVOICE_TOTAL_MISMATCH":
            severity = mismatch["mismatch_severity"].to_numpy(dtype=object)[rows]
        parts.append(
            columns_frame(
                {
                    "row": rows,
                    "flag": np.full(len(rows), code, dtype=object),
                    "severity": severity,
                    "deduction": spec.deduction,
                    "priority": spec.priority,
                }
            )
        )
    if not parts:
        return pd.DataFrame(
            {
                "row": pd.Series(dtype="int64"),
                "flag": pd.Series(dtype="object"),
                "severity": pd.Series(dtype="object"),
                "deduction": pd.Series(dtype="int64"),
                "priority": pd.Series(dtype="int64"),
            }
        )
    flags = pd.concat(parts, ignore_index=True)
    return flags.sort_values(["row", "priority"], kind="stable").reset_index(drop=True)


def score_invoices(flags: pd.DataFrame, n: int, t: Thresholds) -> pd.DataFrame:
    """quality_score, quality_grade and the ordered flag list per invoice row."""
    deductions = np.bincount(
        flags["row"].to_numpy(), weights=flags["deduction"].to_numpy(), minlength=n
    )
    score = np.clip(100.0 - deductions[:n], 0.0, 100.0)
    grade = first_match(
        [score >= t.Quality.OK_MIN_SCORE, score >= t.Quality.CHECK_MIN_SCORE],
        ["OK", "CHECK"],
        default="BAD",
    )
    codes = _flag_lists(flags, n) if len(flags) else np.full(n, "", dtype=object)
    return columns_frame(
        {
            "quality_score": score,
            "quality_grade": grade,
            "flag_count": np.bincount(flags["row"].to_numpy(), minlength=n)[:n],
            "flags": codes,
        }
    )


def _flag_lists(flags: pd.DataFrame, n: int) -> np.ndarray:
    """The comma-joined flag list of each row, in priority order. Each flag is one bit of a
    per-row mask; the few distinct masks are spelled out once each and spread by mask value."""
    present = flags[["flag", "priority"]].drop_duplicates("flag")
    order = list(present.sort_values(["priority", "flag"], kind="stable")["flag"])
    bit = {code: 1 << i for i, code in enumerate(order)}
    masks = np.zeros(n, dtype=np.int64)
    bits = flags["flag"].map(bit).to_numpy(dtype=np.int64)
    np.bitwise_or.at(masks, flags["row"].to_numpy(dtype=np.int64), bits)

    # A table indexed by the mask itself (no hashing of a million masks): one bit per catalogue
    # flag, so at most 2 ** len(CATALOGUE) entries, each spelled only where a row has it.
    table = np.empty(1 << len(order), dtype=object)
    for mask in np.flatnonzero(np.bincount(masks, minlength=len(table))).tolist():
        table[mask] = ",".join(code for code in order if mask & bit[code])
    return table[masks]
