"""The flag catalogue (SPEC §5.4): severity, deduction, priority, category, owner and action.

Domain data in one place: quality scoring, incidents, hints and reports read it; nothing else
restates a deduction or a priority. A lower priority number wins when choosing an incident's
primary flag.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

import pandas as pd


@dataclass(frozen=True)
class FlagSpec:
    code: str
    severity: str  # S1, S2 or S3; INVOICE_TOTAL_MISMATCH takes its severity from §5.3
    deduction: int
    priority: int
    category: str
    owner: str
    action: str


_SPECS = (
    FlagSpec(
        "EXTRACTION_FAILED", "S1", 100, 1, "extraction", "extraction-oncall", "REPROCESS_EXTRACTION"
    ),
    FlagSpec("CALC_BUG", "S1", 50, 5, "pricing", "pricing-eng", "REPORT_CALC_BUG"),
    FlagSpec(
        "MARKET_PRICE_MISSING", "S1", 50, 10, "market_data", "market-data", "LOAD_MARKET_PRICE"
    ),
    FlagSpec(
        "CONSUMPTION_MISSING", "S1", 50, 15, "extraction", "extraction-oncall", "VERIFY_CONSUMPTION"
    ),
    FlagSpec("TARIFF_LOOKUP_FAILED", "S1", 40, 20, "tariff", "market-data", "ADD_TARIFF_ROW"),
    FlagSpec(
        "TARIFF_META_MISSING", "S1", 45, 25, "tariff", "extraction-oncall", "VERIFY_TARIFF_META"
    ),
    FlagSpec(
        "INVOICE_TOTAL_MISMATCH", "S2", 25, 35, "mismatch", "invoice-ops", "VERIFY_INVOICE_LOGIC"
    ),
    FlagSpec("MISSING_FIELDS", "S2", 20, 40, "extraction", "extraction-oncall", "COMPLETE_FIELDS"),
    FlagSpec("VALIDATION_FAILED", "S2", 20, 45, "validation", "invoice-ops", "REVIEW_VALIDATION"),
    FlagSpec("DISTRIBUTION_MISMATCH", "S2", 15, 60, "tariff", "market-data", "VERIFY_DIST_TARIFF"),
    FlagSpec(
        "LOW_CONFIDENCE", "S3", 10, 80, "extraction", "extraction-oncall", "REVIEW_LOW_CONFIDENCE"
    ),
    FlagSpec("VALIDATION_WARNINGS", "S3", 5, 90, "validation", "invoice-ops", "REVIEW_WARNINGS"),
    FlagSpec(
        "MARKET_PRICE_ESTIMATED", "S3", 5, 95, "market_data", "market-data", "CONFIRM_MARKET_PRICE"
    ),
)

CATALOGUE: MappingProxyType[str, FlagSpec] = MappingProxyType({s.code: s for s in _SPECS})
INCIDENT_SEVERITIES: frozenset[str] = frozenset({"S1", "S2"})


def catalogue_frame() -> pd.DataFrame:
    """The catalogue as a frame indexed by flag code (for vectorised joins)."""
    return pd.DataFrame([s.__dict__ for s in _SPECS]).set_index("code")
