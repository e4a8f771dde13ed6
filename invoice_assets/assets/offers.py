"""``offers``: the alternative offer for each invoice ready for pricing (SPEC §5.2).

A day is read, priced and written in chunks of invoice keys (``reads.invoice_chunks``), all in one
replacement; the day's figures and its GX suite are combined from its chunks.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field

import dagster as dg
import numpy as np
import pandas as pd

from invoice_assets.assets.daily import Check, DayReport, daily_asset, rounded
from invoice_assets.assets.reads import (
    invoice_chunks,
    keyed,
    md_counts,
    read_chunk_aligned,
)
from invoice_assets.checks.expectations import (
    OFFERS_CHECK,
    SuiteOutcome,
    combine,
    offers_outcome,
)
from invoice_assets.domain.arrays import rate
from invoice_assets.domain.pricing import PRICING_FACTS, price_offers
from resources.market_data import MarketDataResource
from resources.store import InvoiceStore
from resources.store import schema as s
from resources.thresholds import ThresholdsResource


@dataclass
class _Tally:
    """A day's offer figures, added up chunk by chunk (the priced rows' savings are kept as
    arrays, in key order, so their mean and sum are the day's as one frame gives them)."""

    rows: int = 0
    ratios: list[np.ndarray] = field(default_factory=list)
    savings: list[np.ndarray] = field(default_factory=list)
    reasons: dict[str, int] = field(default_factory=dict)
    checked: list[SuiteOutcome] = field(default_factory=list)

    def add(self, part: pd.DataFrame) -> None:
        priced = part["offer_status"].eq("priced").to_numpy()
        self.rows += len(part)
        self.ratios.append(part["savings_ratio"].to_numpy(dtype="float64")[priced])
        self.savings.append(part["annual_saving_tl"].to_numpy(dtype="float64")[priced])
        for reason, count in part["offer_reason"].dropna().value_counts().items():
            self.reasons[reason] = self.reasons.get(reason, 0) + int(count)
        self.checked.append(offers_outcome(part))

    def figures(self) -> dict[str, object]:
        ratios = pd.Series(np.concatenate(self.ratios) if self.ratios else [], dtype="float64")
        savings = pd.Series(np.concatenate(self.savings) if self.savings else [], dtype="float64")
        return {
            "dagster/row_count": self.rows,
            "offers_priced": len(ratios),
            "priced_rate": rounded(rate(len(ratios), self.rows)),
            "mean_savings_ratio": rounded(ratios.mean()) if len(ratios) else 0.0,
            "total_annual_saving_tl": round(float(savings.sum()), 2),
            "not_priced_reasons": md_counts(dict(sorted(self.reasons.items())), "reason", "count"),
        }


@daily_asset(
    group="invoices",
    tables=(s.offers,),
    deps=["extractions", "validated_invoices"],
    checks=[
        Check(
            OFFERS_CHECK,
            "Great Expectations suite on the day's offers: one row per invoice, statuses and "
            "reasons known, priced offers non-negative and with a total, unpriced without one.",
        )
    ],
)
def offers(
    context: dg.AssetExecutionContext,
    store: InvoiceStore,
    market_data: MarketDataResource,
    thresholds: ThresholdsResource,
):
    """Offer breakdown, savings and the reason when no offer could be priced."""
    report = DayReport(context)
    days = report.days
    market, t = market_data.load(), thresholds.get()
    tallies = {day: _Tally() for day in days}

    def frames() -> Iterator[dict[str, pd.DataFrame]]:
        for chunk, invoices in invoice_chunks(store, days, context.run_id):
            validation = read_chunk_aligned(store, "validations", invoices, chunk, PRICING_FACTS)
            stored = keyed(invoices, price_offers(invoices, validation, market, t))
            del invoices, validation
            tallies[chunk.day].add(stored)
            yield {"offers": stored}

    store.replace_partitions_streamed(["offers"], days, frames())
    for day in days:
        tally = tallies[day]
        report.day(day, tally.figures())
        report.check(day, combine(tally.checked).result())
    yield from report.results()
