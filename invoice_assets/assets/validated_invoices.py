"""``validated_invoices``: the invoice's own breakdown, the total-mismatch facts and validation.

Errors make an invoice not ready for pricing; warnings do not (SPEC §5.1, §5.3).
"""

import dagster as dg
import pandas as pd

from invoice_assets.domain.arrays import rate
from invoice_assets.domain.pipeline import assess
from invoice_assets.domain.validation import issues_as_json, validate_invoices
from invoice_assets.partitions import daily_partitions, partition_days
from invoice_assets.stage import KINDS, OWNERS, keyed, read_invoices, read_line_items
from resources.market_data import MarketDataResource
from resources.store import InvoiceStore
from resources.thresholds import ThresholdsResource


@dg.asset(
    partitions_def=daily_partitions,
    group_name="invoices",
    owners=OWNERS,
    kinds=KINDS,
    deps=["extractions"],
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def validated_invoices(
    context: dg.AssetExecutionContext,
    store: InvoiceStore,
    market_data: MarketDataResource,
    thresholds: ThresholdsResource,
) -> dg.MaterializeResult:
    """Readiness for pricing, errors[] and warnings[] per invoice, with mismatch facts."""
    days = partition_days(context)
    t = thresholds.get()
    invoices = read_invoices(store, days, context.run_id)
    breakdown, mismatch = assess(invoices, market_data.load(), t)
    validation, issues = validate_invoices(invoices, read_line_items(store, days), mismatch, t)
    frame = keyed(invoices, pd.concat([breakdown, mismatch, validation], axis=1))
    frame["errors_json"], frame["warnings_json"] = issues_as_json(issues, len(invoices))
    store.replace_partitions({"validations": frame}, days)
    ok = invoices["status"].eq("ok")
    ready = validation["is_ready_for_pricing"]
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(frame),
            "ready_for_pricing": int(ready.sum()),
            "ready_rate": rate(ready.sum(), ok.sum()),
            "mismatch_rate": rate(mismatch["has_mismatch"].sum(), len(frame)),
            "hard_stops": int(validation["hard_stop"].sum()),
            "invoices_with_warnings": int(validation["has_warnings"].sum()),
        }
    )
