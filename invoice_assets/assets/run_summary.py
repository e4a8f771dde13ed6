"""``run_summary``: the seed §6 document for the inbox day, stored for the API and the CLI."""

import dagster as dg

from invoice_assets.checks.reports import SUMMARY_SCHEMA_CHECK, summary_schema
from invoice_assets.partitions import daily_partitions, partition_days
from invoice_assets.reports import build_run_summary
from invoice_assets.stage import KINDS, OWNERS
from resources.store import InvoiceStore, utcnow
from resources.thresholds import ThresholdsResource


@dg.asset(
    partitions_def=daily_partitions,
    group_name="invoices",
    owners=OWNERS,
    kinds=KINDS,
    deps=["incidents"],
    backfill_policy=dg.BackfillPolicy.single_run(),
    check_specs=[
        dg.AssetCheckSpec(
            SUMMARY_SCHEMA_CHECK,
            asset="run_summary",
            description="Every summary of the run validates against the seed §6 JSON schema.",
        )
    ],
)
def run_summary(
    context: dg.AssetExecutionContext, store: InvoiceStore, thresholds: ThresholdsResource
) -> dg.MaterializeResult:
    """Counts, rates, latency, errors and queue for the partition's day."""
    days = partition_days(context)
    summary: dict = {}
    checks = []
    for day in days:
        summary = build_run_summary(store, day, day, thresholds.get())
        store.save_document("run_summary", day, summary, utcnow())
        checks.append(summary_schema(summary))
    failed = [c for c in checks if not c.passed]
    counts, rates = summary["counts"], summary["rates"]
    return dg.MaterializeResult(
        check_results=[failed[0] if failed else checks[-1]],
        metadata={
            "dagster/row_count": len(days),
            **{k: int(v) for k, v in counts.items()},
            **{k: float(v) for k, v in rates.items()},
            "pipeline_p95_ms": float(summary["latency"]["pipeline_total_ms"]["p95"]),
            "total_5xx": int(summary["errors"]["total_5xx"]),
            "queue_depth": int(summary["queue"]["current_depth"]),
            "summary": dg.MetadataValue.json(summary),
        },
    )
