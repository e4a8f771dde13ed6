"""``run_summary``: the seed §6 document for the inbox day, stored for the API and the CLI."""

import dagster as dg

from invoice_assets.assets.daily import Check, DayReport, daily_asset, rounded
from invoice_assets.checks.report_checks import SUMMARY_SCHEMA_CHECK, summary_schema
from invoice_assets.services.reporting import build_run_summary
from resources.clock import ClockResource
from resources.store import InvoiceStore
from resources.store import schema as s
from resources.thresholds import ThresholdsResource


@daily_asset(
    group="invoices",
    tables=(s.run_summaries,),
    deps=["extractions", "validated_invoices", "incidents"],
    checks=[
        Check(
            SUMMARY_SCHEMA_CHECK,
            "The day's run summary validates against the seed §6 JSON schema (counts, rates, "
            "latency, errors, queue).",
        )
    ],
)
def run_summary(
    context: dg.AssetExecutionContext,
    store: InvoiceStore,
    thresholds: ThresholdsResource,
    clock: ClockResource,
):
    """Counts, rates, latency, errors and queue for the partition's day."""
    report = DayReport(context)
    t = thresholds.get()
    for day in report.days:
        summary = build_run_summary(store, day, day, t, clock)
        store.save_document("run_summary", day, summary, clock.now())
        counts, rates = summary["counts"], summary["rates"]
        report.day(
            day,
            {
                "dagster/row_count": 1,
                **{k: int(v) for k, v in counts.items()},
                **{k: rounded(v) for k, v in rates.items()},
                "pipeline_p95_ms": round(float(summary["latency"]["pipeline_total_ms"]["p95"]), 1),
                "total_5xx": int(summary["errors"]["total_5xx"]),
                "queue_depth": int(summary["queue"]["current_depth"]),
                "summary": dg.MetadataValue.json(summary),
            },
        )
        report.check(day, summary_schema(summary))
    yield from report.results()
