"""``quality_scores``: flags from the flag catalogue and the 0–100 score with its grade (§5.4)."""

import dagster as dg

from invoice_assets.assets.daily import DayReport, daily_asset, rounded
from invoice_assets.assets.reads import day_rows, keyed, md_counts, read_aligned, read_invoices
from invoice_assets.domain.quality import (
    FLAG_FACTS,
    FLAG_OFFER_FACTS,
    raise_flags,
    score_invoices,
)
from resources.store import InvoiceStore
from resources.store import schema as s
from resources.thresholds import ThresholdsResource


@daily_asset(
    group="invoices",
    tables=(s.quality_scores, s.flags),
    deps=["extractions", "validated_invoices", "offers"],
)
def quality_scores(
    context: dg.AssetExecutionContext, store: InvoiceStore, thresholds: ThresholdsResource
):
    """Quality score, grade and ordered flag list per invoice; the long flag table beside it."""
    report = DayReport(context)
    days = report.days
    invoices = read_invoices(store, days, context.run_id)
    facts = read_aligned(store, "validations", invoices, days, FLAG_FACTS)
    offers = read_aligned(store, "offers", invoices, days, FLAG_OFFER_FACTS)
    flags = raise_flags(invoices, facts, offers)
    scores = score_invoices(flags, len(invoices), thresholds.get())
    flag_rows = flags.assign(
        day=invoices["day"].to_numpy()[flags["row"].to_numpy()],
        invoice_key=invoices["invoice_key"].to_numpy()[flags["row"].to_numpy()],
    ).drop(columns=["row"])
    stored = keyed(invoices, scores)
    store.replace_partitions({"quality_scores": stored, "flags": flag_rows}, days)
    for day, rows in day_rows(stored, days):
        part = stored.iloc[rows]
        grades = part["quality_grade"].value_counts()
        day_flags = flag_rows.loc[flag_rows["day"].eq(day), "flag"]
        report.day(
            day,
            {
                "dagster/row_count": len(part),
                "mean_quality_score": rounded(part["quality_score"].mean()) if len(part) else 0.0,
                "grade_ok": int(grades.get("OK", 0)),
                "grade_check": int(grades.get("CHECK", 0)),
                "grade_bad": int(grades.get("BAD", 0)),
                "flags": md_counts(day_flags.value_counts().sort_index(), "flag", "invoices"),
            },
        )
    yield from report.results()
