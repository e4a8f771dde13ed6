"""``system_health_report``: 7-day window vs the 7 days before, with drift and top offenders."""

import dagster as dg

from invoice_assets.assets.daily import Check, DayReport, daily_asset, rounded
from invoice_assets.checks.report_checks import DRIFT_CHECKS, drift_checks
from invoice_assets.services.reporting import WINDOW_DAYS, build_health_reports
from resources.clock import ClockResource
from resources.store import InvoiceStore
from resources.store import schema as s
from resources.thresholds import ThresholdsResource


@daily_asset(
    group="monitoring",
    tables=(s.health_reports,),
    deps=["extractions", "validated_invoices", "incidents"],
    checks=[
        Check(
            name,
            f"WARN when {metric} triggers for the 7 days ending that day against the 7 days "
            "before (SPEC §5.6: enough sample, a baseline, a real change, a rate jump).",
        )
        for metric, name in DRIFT_CHECKS.items()
    ],
)
def system_health_report(
    context: dg.AssetExecutionContext,
    store: InvoiceStore,
    thresholds: ThresholdsResource,
    clock: ClockResource,
):
    """Counts, rates, mismatch histogram and drift for the 7-day window ending that day."""
    report = DayReport(context)
    # A range (backfill) reads the facts of all its windows once, not 2 x 7 days per day.
    for day, health in build_health_reports(store, report.days, thresholds.get()).items():
        store.save_document("system_health_report", day, health, clock.now())
        current = health["current"]
        triggered = [k for k, d in health["drift"].items() if d["triggered"]]
        histogram = "\n".join(
            ["| mismatch ratio | invoices |", "|---|---|"]
            + [f"| {k} | {v} |" for k, v in health["histogram"].items()]
        )
        report.day(
            day,
            {
                "dagster/row_count": 1,
                "window_days": WINDOW_DAYS,
                "total_invoices": int(current["total_invoices"]),
                "s1_rate": rounded(current["s1_rate"]),
                "ocr_suspect_rate": rounded(current["ocr_suspect_rate"]),
                "mismatch_rate": rounded(current["mismatch_rate"]),
                "drift_triggered": ", ".join(triggered) or "none",
                "histogram": dg.MetadataValue.md(histogram),
                "report": dg.MetadataValue.json(health),
            },
        )
        for result in drift_checks(health):
            report.check(day, result)
    yield from report.results()
