"""``validated_invoices``: the invoice's own breakdown, the total-mismatch facts and validation.

Errors make an invoice not ready for pricing; warnings do not (SPEC §5.1, §5.3). A day is read,
validated and written in chunks of invoice keys (``reads.invoice_chunks``), all in one replacement.
"""

from collections.abc import Iterator

import dagster as dg
import pandas as pd

from invoice_assets.assets.daily import DayReport, daily_asset, rounded
from invoice_assets.assets.reads import (
    invoice_chunks,
    keyed,
    read_chunk_line_items,
)
from invoice_assets.domain.arrays import rate
from invoice_assets.domain.pipeline import assess
from invoice_assets.domain.validation import issues_as_json, validate_invoices
from resources.market_data import MarketDataResource
from resources.store import InvoiceStore
from resources.store import schema as s
from resources.thresholds import ThresholdsResource

COUNTED = ("rows", "ok", "ready", "mismatch", "hard_stops", "warnings")


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
    market = market_data.load()
    counts = {day: dict.fromkeys(COUNTED, 0) for day in days}

    def frames() -> Iterator[dict[str, pd.DataFrame]]:
        for chunk, invoices in invoice_chunks(store, days, context.run_id):
            breakdown, mismatch = assess(invoices, market, t)
            validation, issues = validate_invoices(
                invoices, read_chunk_line_items(store, chunk), mismatch, t
            )
            frame = keyed(invoices, pd.concat([breakdown, mismatch, validation], axis=1))
            frame["errors_json"], frame["warnings_json"] = issues_as_json(issues, len(invoices))
            tally = counts[chunk.day]
            tally["rows"] += len(frame)
            tally["ok"] += int(invoices["status"].eq("ok").sum())
            tally["ready"] += int(frame["is_ready_for_pricing"].sum())
            tally["mismatch"] += int(frame["has_mismatch"].sum())
            tally["hard_stops"] += int(frame["hard_stop"].sum())
            tally["warnings"] += int(frame["has_warnings"].sum())
            del invoices, breakdown, mismatch, validation, issues
            yield {"validations": frame}

    store.replace_partitions_streamed(["validations"], days, frames())
    for day in days:
        c = counts[day]
        report.day(
            day,
            {
                "dagster/row_count": c["rows"],
                "ready_for_pricing": c["ready"],
                "ready_rate": rounded(rate(c["ready"], c["ok"])),
                "mismatch_rate": rounded(rate(c["mismatch"], c["rows"])),
                "hard_stops": c["hard_stops"],
                "invoices_with_warnings": c["warnings"],
            },
        )
    yield from report.results()
