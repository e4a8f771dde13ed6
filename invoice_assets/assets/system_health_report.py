"""``system_health_report``: 7-day window vs the 7 days before, with drift and top offenders."""

import dagster as dg

from invoice_assets.checks.reports import DRIFT_CHECKS, drift_checks
from invoice_assets.partitions import daily_partitions, partition_days
from invoice_assets.reports import WINDOW_DAYS, build_health_reports
from invoice_assets.stage import KINDS, OWNERS
from resources.store import InvoiceStore, utcnow
from resources.thresholds import ThresholdsResource


@dg.asset(
    partitions_def=daily_partitions,
    group_name="monitoring",
    owners=OWNERS,
    kinds=KINDS,
    deps=["incidents"],
    backfill_policy=dg.BackfillPolicy.single_run(),
    check_specs=[
        dg.AssetCheckSpec(
            name, asset="system_health_report", description=f"WARN when {metric} triggers."
        )
        for metric, name in DRIFT_CHECKS.items()
    ],
)
def system_health_report(
    context: dg.AssetExecutionContext, store: InvoiceStore, thresholds: ThresholdsResource
) -> dg.MaterializeResult:
    """Counts, rates, mismatch histogram and triple-guard drift for the window ending that day."""
    days = partition_days(context)
    report: dict = {}
    # A range (backfill) reads the facts of all its windows once, not 2 x 7 days per day.
    for day, report in build_health_reports(store, days, thresholds.get()).items():
        store.save_document("system_health_report", day, report, utcnow())
    current = report["current"]
    drift = {name: bool(d["triggered"]) for name, d in report["drift"].items()}
    histogram = "\n".join(
        ["| mismatch ratio | invoices |", "|---|---|"]
        + [f"| {k} | {v} |" for k, v in report["histogram"].items()]
    )
    return dg.MaterializeResult(
        check_results=drift_checks(report),
        metadata={
            "window_days": WINDOW_DAYS,
            "total_invoices": int(current["total_invoices"]),
            "s1_rate": float(current["s1_rate"]),
            "ocr_suspect_rate": float(current["ocr_suspect_rate"]),
            "mismatch_rate": float(current["mismatch_rate"]),
            "drift_triggered": ", ".join(k for k, v in drift.items() if v) or "none",
            "histogram": dg.MetadataValue.md(histogram),
            "report": dg.MetadataValue.json(report),
        },
    )
