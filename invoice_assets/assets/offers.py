"""``offers``: the alternative offer for each invoice ready for pricing (SPEC §5.2)."""

import dagster as dg

from invoice_assets.checks.expectations import OFFERS_CHECK, offers_expectations
from invoice_assets.domain.arrays import rate
from invoice_assets.domain.pricing import price_offers
from invoice_assets.partitions import daily_partitions, partition_days
from invoice_assets.stage import KINDS, OWNERS, keyed, md_counts, read_aligned, read_invoices
from resources.market_data import MarketDataResource
from resources.store import InvoiceStore
from resources.thresholds import ThresholdsResource


@dg.asset(
    partitions_def=daily_partitions,
    group_name="invoices",
    owners=OWNERS,
    kinds=KINDS,
    deps=["validated_invoices"],
    backfill_policy=dg.BackfillPolicy.single_run(),
    check_specs=[
        dg.AssetCheckSpec(
            OFFERS_CHECK,
            asset="offers",
            description="Great Expectations suite: statuses, reasons, non-negative offers.",
        )
    ],
)
def offers(
    context: dg.AssetExecutionContext,
    store: InvoiceStore,
    market_data: MarketDataResource,
    thresholds: ThresholdsResource,
) -> dg.MaterializeResult:
    """Offer breakdown, savings and the reason when no offer could be priced."""
    days = partition_days(context)
    invoices = read_invoices(store, days, context.run_id)
    validation = read_aligned(store, "validations", invoices, days, ["is_ready_for_pricing"])
    frame = price_offers(invoices, validation, market_data.load(), thresholds.get())
    stored = keyed(invoices, frame)
    store.replace_partitions({"offers": stored}, days)
    priced = frame["offer_status"].eq("priced")
    return dg.MaterializeResult(
        check_results=[offers_expectations(stored)],
        metadata={
            "dagster/row_count": len(frame),
            "offers_priced": int(priced.sum()),
            "priced_rate": rate(priced.sum(), len(frame)),
            "mean_savings_ratio": float(frame.loc[priced, "savings_ratio"].mean())
            if priced.any()
            else 0.0,
            "total_annual_saving_tl": round(float(frame.loc[priced, "annual_saving_tl"].sum()), 2),
            "not_priced_reasons": md_counts(
                frame["offer_reason"].dropna().value_counts().sort_index(), "reason", "count"
            ),
        },
    )
