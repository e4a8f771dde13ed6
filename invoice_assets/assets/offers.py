"""``offers``: the alternative offer for each invoice ready for pricing (SPEC §5.2)."""

import dagster as dg

from invoice_assets.assets.daily import Check, DayReport, daily_asset, rounded
from invoice_assets.assets.reads import day_rows, keyed, md_counts, read_aligned, read_invoices
from invoice_assets.checks.expectations import OFFERS_CHECK, offers_expectations
from invoice_assets.domain.arrays import rate
from invoice_assets.domain.pricing import PRICING_FACTS, price_offers
from resources.market_data import MarketDataResource
from resources.store import InvoiceStore
from resources.store import schema as s
from resources.thresholds import ThresholdsResource


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
    invoices = read_invoices(store, days, context.run_id)
    validation = read_aligned(store, "validations", invoices, days, PRICING_FACTS)
    frame = price_offers(invoices, validation, market_data.load(), thresholds.get())
    stored = keyed(invoices, frame)
    store.replace_partitions({"offers": stored}, days)
    for day, rows in day_rows(stored, days):
        part = stored.iloc[rows]
        priced = part["offer_status"].eq("priced")
        report.day(
            day,
            {
                "dagster/row_count": len(part),
                "offers_priced": int(priced.sum()),
                "priced_rate": rounded(rate(priced.sum(), len(part))),
                "mean_savings_ratio": rounded(part.loc[priced, "savings_ratio"].mean())
                if priced.any()
                else 0.0,
                "total_annual_saving_tl": round(
                    float(part.loc[priced, "annual_saving_tl"].sum()), 2
                ),
                "not_priced_reasons": md_counts(
                    part["offer_reason"].dropna().value_counts().sort_index(), "reason", "count"
                ),
            },
        )
        report.check(day, offers_expectations(part))
    yield from report.results()
