"""``incidents``: one incident per invoice with an S1/S2 flag, upserted by dedupe key (SPEC §5.5).

A rerun updates occurrence counts and keeps what operators did (status, resolution, feedback);
an open incident whose flags disappeared is resolved as ``recompute_resolved``. Days are
reconciled in order. An incident belongs to the day it was first raised: the same invoice
arriving on a later day updates it (occurrence count, last seen) without moving it, and is
counted in that later day's figures as a re-arrival (``re_arrival_count``), not as an incident.
"""

import dagster as dg
import pandas as pd

from invoice_assets.assets.daily import Check, DayReport, daily_asset, rounded
from invoice_assets.assets.reads import md_counts, read_aligned, read_invoices
from invoice_assets.checks.fixture_check import SMOKE_CHECK, smoke_expectations
from invoice_assets.domain.arrays import rate
from invoice_assets.domain.incidents import (
    DEFAULT_TENANT,
    INCIDENT_FACTS,
    build_incidents,
    re_arrivals,
    reconcile_incidents,
)
from invoice_assets.domain.quality import FLAG_COLUMNS
from resources.clock import ClockResource
from resources.market_data import MarketDataResource
from resources.store import InvoiceStore
from resources.store import schema as s
from resources.thresholds import ThresholdsResource


def _flags_for(store: InvoiceStore, invoices: pd.DataFrame, day: str) -> pd.DataFrame:
    stored = store.read_stage("flags", [day])
    rows = pd.Index(invoices["invoice_key"]).get_indexer(stored["invoice_key"])
    flags = stored.assign(row=rows)[list(FLAG_COLUMNS)]
    return (
        flags[flags["row"] >= 0]
        .sort_values(["row", "priority"], kind="stable")
        .reset_index(drop=True)
    )


@daily_asset(
    group="invoices",
    tables=(s.incidents,),
    deps=["extractions", "validated_invoices", "quality_scores"],
    checks=[
        Check(
            SMOKE_CHECK,
            "Blocking: the three seed fixtures (happy path, S2 mismatch, S1 OCR suspect) go "
            "through the domain with the live thresholds and market data and give SPEC §7's "
            "outputs; a failure stops run_summary and system_health_report.",
            blocking=True,
        )
    ],
)
def incidents(
    context: dg.AssetExecutionContext,
    store: InvoiceStore,
    thresholds: ThresholdsResource,
    market_data: MarketDataResource,
    clock: ClockResource,
):
    """Incidents with severity, primary flag, action hint and mismatch_info."""
    report = DayReport(context)
    t = thresholds.get()
    smoke = smoke_expectations(t, market_data.load())  # the fixtures do not depend on the day
    for day in report.days:
        invoices = read_invoices(store, [day], context.run_id)
        facts = read_aligned(store, "validations", invoices, [day], INCIDENT_FACTS)
        computed = build_incidents(
            invoices, facts, _flags_for(store, invoices, day), t, DEFAULT_TENANT
        )
        computed["day"] = day
        computed["ocr_suspect"] = (
            facts["suspect_reason"].eq("OCR_LOCALE_SUSPECT").to_numpy()[computed["row"].to_numpy()]
            if len(computed)
            else []
        )
        now = clock.now()
        existing = store.incident_state([day], DEFAULT_TENANT)
        upserts, resolved = reconcile_incidents(
            existing, computed, invoices["invoice_key"], pd.Timestamp(now), t
        )
        written = store.write_incidents(
            upserts, resolved, DEFAULT_TENANT, now, max_recompute=t.Recovery.MAX_RECOMPUTE
        )
        store.mark_decided([day], clock.now())
        report.day(day, _figures(upserts, written, re_arrivals(existing, day)))
        report.check(day, smoke)
    yield from report.results()


def _figures(upserts: pd.DataFrame, written: dict[str, int], again: int) -> dict[str, object]:
    """The day's own incidents (not those of other days its invoices updated: re-arrivals)."""
    frame = upserts[~upserts["re_arrival"].to_numpy(dtype=bool)] if len(upserts) else upserts
    severity = frame["severity"].value_counts() if len(frame) else pd.Series(dtype=int)
    s1, s2 = int(severity.get("S1", 0)), int(severity.get("S2", 0))
    return {
        "dagster/row_count": len(frame),
        "incident_count": len(frame),
        "s1_count": s1,
        "s2_count": s2,
        "s1_rate": rounded(rate(s1, s1 + s2)),
        "inserted": written["inserted"],
        "updated": written["updated"],
        "recompute_resolved": written["resolved"],
        "re_arrival_count": again,
        "primary_flags": md_counts(
            frame["primary_flag"].value_counts().sort_index() if len(frame) else {},
            "primary flag",
            "incidents",
        ),
    }
