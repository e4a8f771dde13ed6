"""Action hints (SPEC §5.5): what an operator should check first, deterministically.

For INVOICE_TOTAL_MISMATCH the action class follows the mismatch facts (OCR suspect → VERIFY_OCR,
within rounding tolerance → ACCEPT_ROUNDING_TOLERANCE, else VERIFY_INVOICE_LOGIC) and the checks are
ordered most likely first from the delta reason candidate. Other flags carry their catalogue
action. Same inputs, same hint: no clocks, no randomness, no dict-order surprises.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from invoice_assets.domain.flags import CATALOGUE

if TYPE_CHECKING:
    from invoice_assets.domain.thresholds import Thresholds

MAX_CHECKS = 5

_OCR_CHECKS = (
    "Compare the extracted invoice total with the page it was read from",
    "Check decimal and thousands separators (Turkish format 1.234,56)",
    "Re-check consumption (kWh) against the meter-reading section",
    "Re-check the unit price unit (kr/kWh vs TL/kWh vs TL/MWh)",
    "Re-run the extraction if the page is blurred or rotated",
)
_ROUNDING_CHECKS = (
    "Confirm the difference comes from per-line rounding",
    "Accept the printed total as the amount payable",
)
_LOGIC_CHECKS = {
    "LOCALE_SCALE": "Look for a decimal or thousands separator slip in the printed amounts",
    "VAT_CALCULATION": "Check VAT: missing from the parts or applied twice",
    "LINE_ITEM_MISSING": "Look for charges not in the parts (reactive energy, late fees, arrears)",
    "ADJUSTMENT": "Look for adjustments or credits carried from previous periods",
    "UNKNOWN": "Recompute the invoice by hand from its printed parts",
}
_LOGIC_ORDER = ("ADJUSTMENT", "LINE_ITEM_MISSING", "VAT_CALCULATION", "LOCALE_SCALE", "UNKNOWN")


def logic_checks(reason: str | None) -> list[str]:
    """VERIFY_INVOICE_LOGIC checks with the one matching the delta reason first."""
    order = list(_LOGIC_ORDER)
    if reason in _LOGIC_CHECKS:
        order.remove(reason)
        order.insert(0, reason)
    return [_LOGIC_CHECKS[r] for r in order][:MAX_CHECKS]


def confidence_note(conf_kwh: float, conf_price: float, conf_total: float) -> str:
    lowest = min(conf_kwh, conf_price, conf_total)
    return (
        f"Extraction confidence: consumption {conf_kwh:.2f}, unit price {conf_price:.2f}, "
        f"total {conf_total:.2f} (lowest {lowest:.2f})"
    )


def mismatch_action_class(mismatch: pd.DataFrame, t: Thresholds) -> np.ndarray:
    """VERIFY_OCR / ACCEPT_ROUNDING_TOLERANCE / VERIFY_INVOICE_LOGIC per row."""
    m = t.Mismatch
    with np.errstate(invalid="ignore"):
        rounding = (mismatch["mismatch_delta"] < m.ROUNDING_DELTA) & (
            mismatch["mismatch_ratio"] < m.ROUNDING_RATIO
        )
    return np.select(
        [mismatch["suspect_reason"].eq("OCR_LOCALE_SUSPECT").to_numpy(), rounding.to_numpy()],
        ["VERIFY_OCR", "ACCEPT_ROUNDING_TOLERANCE"],
        default="VERIFY_INVOICE_LOGIC",
    )


_SUSPECT = {
    "VERIFY_OCR": "OCR_LOCALE_SUSPECT",
    "ACCEPT_ROUNDING_TOLERANCE": "ROUNDING",
    "VERIFY_INVOICE_LOGIC": "INVOICE_LOGIC",
}


def build_hint(
    primary_flag: str, action_class: str | None, reason: str | None, note: str
) -> dict[str, Any]:
    """The action_hint document of one incident."""
    if primary_flag == "INVOICE_TOTAL_MISMATCH" and action_class in _SUSPECT:
        if action_class == "VERIFY_OCR":
            checks = list(_OCR_CHECKS)
        elif action_class == "ACCEPT_ROUNDING_TOLERANCE":
            checks = list(_ROUNDING_CHECKS)
        else:
            checks = logic_checks(reason)
        return {
            "action_class": action_class,
            "primary_suspect": _SUSPECT[action_class],
            "recommended_checks": checks[:MAX_CHECKS],
            "confidence_note": note,
            "owner": CATALOGUE[primary_flag].owner,
        }
    spec = CATALOGUE[primary_flag]
    return {
        "action_class": spec.action,
        "primary_suspect": primary_flag,
        "recommended_checks": [],
        "confidence_note": note,
        "owner": spec.owner,
    }
