"""The whole per-invoice evaluation in one call: breakdown → mismatch → validation → offers →
flags → scores → incidents.

Assets run the same stages one by one (each persisted); this module is what the smoke check, the
CLI, the benchmarks and the property tests call so that every consumer applies the same rules in
the same order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from invoice_assets.domain.arrays import columns_frame
from invoice_assets.domain.breakdown import current_breakdown
from invoice_assets.domain.incidents import build_incidents
from invoice_assets.domain.market import MarketData
from invoice_assets.domain.mismatch import assess_mismatch, min_key_confidence
from invoice_assets.domain.pricing import price_offers
from invoice_assets.domain.quality import raise_flags, score_invoices
from invoice_assets.domain.validation import validate_invoices

if TYPE_CHECKING:
    from invoice_assets.domain.thresholds import Thresholds


@dataclass(frozen=True)
class Evaluation:
    """Every stage's output; all frames are row-aligned with ``invoices`` (RangeIndex)."""

    invoices: pd.DataFrame
    breakdown: pd.DataFrame
    mismatch: pd.DataFrame
    validation: pd.DataFrame
    issues: pd.DataFrame
    offers: pd.DataFrame
    flags: pd.DataFrame
    scores: pd.DataFrame
    incidents: pd.DataFrame

    def invoice_view(self) -> pd.DataFrame:
        """One wide row per invoice with every stage's columns (reports, tests)."""
        return pd.concat(
            [
                self.invoices,
                self.breakdown,
                self.mismatch,
                self.validation,
                self.offers,
                self.scores,
            ],
            axis=1,
        ).loc[:, lambda f: ~f.columns.duplicated()]


def assess(
    invoices: pd.DataFrame,
    market: MarketData,
    t: Thresholds,
    rates: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The current breakdown and the mismatch facts (stages shared by validation and incidents)."""
    breakdown = current_breakdown(invoices, market, rates)
    mismatch = assess_mismatch(
        invoices["invoice_total_with_vat_tl"].to_numpy(),
        breakdown["computed_total_tl"].to_numpy(),
        breakdown["current_vat_tl"].to_numpy(),
        min_key_confidence(invoices),
        t,
    )
    return breakdown, mismatch


def invoice_facts(
    breakdown: pd.DataFrame, mismatch: pd.DataFrame, validation: pd.DataFrame
) -> pd.DataFrame:
    """The breakdown, mismatch and validation columns side by side: the row the
    ``validations`` stage stores, and the facts flags and incidents read (no value copied)."""
    return columns_frame({n: f[n] for f in (breakdown, mismatch, validation) for n in f.columns})


def evaluate(
    invoices: pd.DataFrame,
    line_items: pd.DataFrame,
    market: MarketData,
    t: Thresholds,
    tenant: str = "default",
) -> Evaluation:
    invoices = invoices.reset_index(drop=True)
    rates = market.tax.rates_for(invoices["tariff_group"])  # breakdown and offer share them
    breakdown, mismatch = assess(invoices, market, t, rates)
    validation, issues = validate_invoices(invoices, line_items, mismatch, t)
    offers = price_offers(invoices, validation, market, t, rates)
    facts = invoice_facts(breakdown, mismatch, validation)
    flags = raise_flags(invoices, facts, offers)
    scores = score_invoices(flags, len(invoices), t)
    incidents = build_incidents(invoices, facts, flags, t, tenant)
    return Evaluation(
        invoices, breakdown, mismatch, validation, issues, offers, flags, scores, incidents
    )
