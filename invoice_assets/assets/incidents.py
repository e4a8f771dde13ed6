"""``incidents``: one incident per invoice with an S1/S2 flag, upserted by dedupe key (SPEC §5.5).

A rerun updates occurrence counts and keeps what operators did (status, resolution, feedback);
an open incident whose flags disappeared is resolved as ``recompute_resolved``. Days are
reconciled in order. An incident belongs to the day it was first raised: the same invoice
arriving on a later day updates it (occurrence count, last seen) without moving it, and is
counted in that later day's figures as a re-arrival (``re_arrival_count``), not as an incident.

A day is reconciled in chunks of invoice keys (``reads.invoice_chunks``): an incident's dedupe
key is per invoice, so each chunk's computed incidents meet exactly the stored incidents of its
own invoices; each chunk's writes are one transaction, and the day is marked decided after the last.
"""

from dataclasses import dataclass, field
from itertools import groupby

import dagster as dg
import pandas as pd

from invoice_assets.assets.daily import Check, DayReport, daily_asset, rounded
from invoice_assets.assets.reads import (
    Chunk,
    invoice_chunks,
    md_counts,
    read_chunk_aligned,
)
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


def _flags_for(store: InvoiceStore, invoices: pd.DataFrame, chunk: Chunk) -> pd.DataFrame:
    stored = store.read_stage_keys("flags", chunk.day, chunk.after, chunk.upto)
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
    chunks = invoice_chunks(store, report.days, context.run_id, last=True)
    for day, pairs in groupby(chunks, key=lambda pair: pair[0].day):
        now = clock.now()  # one reconciliation of the day, one moment
        tally = _Tally()
        for chunk, invoices in pairs:
            facts = read_chunk_aligned(store, "validations", invoices, chunk, INCIDENT_FACTS)
            computed = build_incidents(
                invoices, facts, _flags_for(store, invoices, chunk), t, DEFAULT_TENANT
            )
            computed["day"] = day
            computed["ocr_suspect"] = (
                facts["suspect_reason"]
                .eq("OCR_LOCALE_SUSPECT")
                .to_numpy()[computed["row"].to_numpy()]
                if len(computed)
                else []
            )
            existing = store.incident_state(
                [day], DEFAULT_TENANT, after=chunk.after, upto=chunk.upto
            )
            upserts, resolved = reconcile_incidents(
                existing, computed, invoices["invoice_key"], pd.Timestamp(now), t
            )
            del invoices, facts, computed
            written = store.write_incidents(
                upserts, resolved, DEFAULT_TENANT, now, max_recompute=t.Recovery.MAX_RECOMPUTE
            )
            tally.add(upserts, written, re_arrivals(existing, day))
        store.mark_decided([day], clock.now())
        report.day(day, tally.figures())
        report.check(day, smoke)
    yield from report.results()


@dataclass
class _Tally:
    """A day's incident figures, added up chunk by chunk (its chunks hold disjoint invoices,
    so re-arrivals, counted per invoice, add up too)."""

    severity: dict[str, int] = field(default_factory=dict)
    primary: dict[str, int] = field(default_factory=dict)
    written: dict[str, int] = field(
        default_factory=lambda: {"inserted": 0, "updated": 0, "resolved": 0}
    )
    again: int = 0
    count: int = 0

    def add(self, upserts: pd.DataFrame, written: dict[str, int], again: int) -> None:
        """The chunk's own incidents (not those of other days its invoices updated)."""
        frame = upserts[~upserts["re_arrival"].to_numpy(dtype=bool)] if len(upserts) else upserts
        self.count += len(frame)
        if len(frame):
            for target, column in ((self.severity, "severity"), (self.primary, "primary_flag")):
                for value, count in frame[column].value_counts().items():
                    target[value] = target.get(value, 0) + int(count)
        for key in self.written:
            self.written[key] += int(written[key])
        self.again += again

    def figures(self) -> dict[str, object]:
        s1, s2 = self.severity.get("S1", 0), self.severity.get("S2", 0)
        count = self.count
        return {
            "dagster/row_count": count,
            "incident_count": count,
            "s1_count": s1,
            "s2_count": s2,
            "s1_rate": rounded(rate(s1, s1 + s2)),
            "inserted": self.written["inserted"],
            "updated": self.written["updated"],
            "recompute_resolved": self.written["resolved"],
            "re_arrival_count": self.again,
            "primary_flags": md_counts(
                dict(sorted(self.primary.items())), "primary flag", "incidents"
            ),
        }
