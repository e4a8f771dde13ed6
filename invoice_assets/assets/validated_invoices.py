"""``validated_invoices``: the invoice's own breakdown, the total-mismatch facts and validation.

Errors make an invoice not ready for pricing; warnings do not (SPEC §5.1, §5.3).
"""

import dagster as dg
import pandas as pd

from invoice_assets.assets.daily import DayReport, daily_asset, rounded
from invoice_assets.assets.reads import day_rows, keyed, read_invoices, read_line_items
from invoice_assets.domain.arrays import rate
from invoice_assets.domain.pipeline import assess
from invoice_assets.domain.validation import issues_as_json, validate_invoices
from resources.market_data import MarketDataResource
from resources.store import InvoiceStore
from resources.store import schema as s
from resources.thresholds import ThresholdsResource


@daily_asset(group="invoices", tables=(s.validations,), deps=["extractions"])
def validated_invoices(
    context: dg.AssetExecutionContext,
    store: InvoiceStore,
    market_data: MarketDataResource,
    thresholds: ThresholdsResource,
):
    """Readiness for pricing, errors[] and warnings[] per invoice, with mismatch facts."""
    report = DayReport(context)
    days = report.days
    t = thresholds.get()
    invoices = read_invoices(store, days, context.run_id)
    breakdown, mismatch = assess(invoices, market_data.load(), t)
    validation, issues = validate_invoices(invoices, read_line_items(store, days), mismatch, t)
    frame = keyed(invoices, pd.concat([breakdown, mismatch, validation], axis=1))
    frame["errors_json"], frame["warnings_json"] = issues_as_json(issues, len(invoices))
    store.replace_partitions({"validations": frame}, days)
    for day, rows in day_rows(frame, days):
        part = frame.iloc[rows]
        ok = invoices["status"].iloc[rows].eq("ok")
        ready = part["is_ready_for_pricing"]
        report.day(
            day,
            {
                "dagster/row_count": len(part),
                "ready_for_pricing": int(ready.sum()),
                "ready_rate": rounded(rate(ready.sum(), ok.sum())),
                "mismatch_rate": rounded(rate(part["has_mismatch"].sum(), len(part))),
                "hard_stops": int(part["hard_stop"].sum()),
                "invoices_with_warnings": int(part["has_warnings"].sum()),
            },
        )
    yield from report.results()
