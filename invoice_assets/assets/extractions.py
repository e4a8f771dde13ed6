"""``extractions``: every invoice file of the inbox day, extracted into records (or failures).

Registers the day's files in the queue (received → processing → done/failed), routes each file by
content through the extractor, marks duplicate invoice keys, and writes one row per invoice (ok or
failed with its ``error_code``) plus the line items, in one transaction per run.
"""

from pathlib import Path

import dagster as dg
import pandas as pd

from invoice_assets.checks.expectations import EXTRACTIONS_CHECK, extractions_expectations
from invoice_assets.domain.records import items_to_frames, mark_duplicates
from invoice_assets.partitions import daily_partitions, partition_days
from invoice_assets.stage import KINDS, OWNERS, keyed_view, md_counts, rate
from resources.extractor import InboxExtractor
from resources.inbox import InboxResource
from resources.store import InvoiceStore, utcnow


def _extract_day(
    day: str, store: InvoiceStore, inbox: InboxResource, extractor: InboxExtractor
) -> tuple[pd.DataFrame, pd.DataFrame]:
    entries = inbox.list_files(day)
    store.register_inbox(day, entries)
    names = [e.file_name for e in entries]
    store.set_inbox_status(day, names, "processing", attempt=True)
    started = utcnow()
    outcomes = []
    for entry in entries:
        outcomes.extend(extractor.extract_file(Path(entry.path)))
    items = mark_duplicates([o.item for o in outcomes])
    invoices, lines = items_to_frames(items)
    invoices["day"] = day
    invoices["extraction_ms"] = [o.extraction_ms for o in outcomes]
    invoices["http_status"] = [o.http_status for o in outcomes]
    invoices["started_at"] = started
    lines["day"] = day
    per_file = invoices.groupby("source_file")["status"]
    counts = {name: (int(group.size), int((group == "failed").sum())) for name, group in per_file}
    codes = invoices.groupby("source_file")["error_code"].first().to_dict()
    failed = [n for n in names if counts.get(n, (0, 0))[0] == counts.get(n, (0, 0))[1]]
    store.set_inbox_status(day, [n for n in names if n not in failed], "done", items=counts)
    store.set_inbox_status(day, failed, "failed", items=counts, error_codes=codes)
    return invoices, lines


@dg.asset(
    partitions_def=daily_partitions,
    group_name="invoices",
    owners=OWNERS,
    kinds=KINDS,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool="openai",
    check_specs=[
        dg.AssetCheckSpec(
            EXTRACTIONS_CHECK,
            asset="extractions",
            description="Great Expectations suite: keys, statuses, confidences, error codes.",
        )
    ],
)
def extractions(
    context: dg.AssetExecutionContext,
    store: InvoiceStore,
    inbox: InboxResource,
    extractor: InboxExtractor,
) -> dg.MaterializeResult:
    """One row per invoice found in the inbox day (ok or failed with an error_code)."""
    days = partition_days(context)
    store.ensure_schema()
    frames = [_extract_day(day, store, inbox, extractor) for day in days]
    invoices = pd.concat([f[0] for f in frames], ignore_index=True)
    lines = pd.concat([f[1] for f in frames], ignore_index=True)
    store.replace_partitions({"extractions": invoices, "line_items": lines}, days)
    failed = invoices["status"].eq("failed")
    context.log.info("extracted %d invoices (%d failed) for %s", len(invoices), failed.sum(), days)
    check = extractions_expectations(keyed_view(invoices))
    return dg.MaterializeResult(
        check_results=[check],
        metadata={
            "dagster/row_count": len(invoices),
            "invoices_received": len(invoices),
            "invoices_ok": int((~failed).sum()),
            "invoices_failed": int(failed.sum()),
            "failure_rate": rate(failed.sum(), len(invoices)),
            "files": int(invoices["source_file"].nunique()),
            "line_items": len(lines),
            "days": ", ".join(days) if len(days) <= 7 else f"{days[0]} … {days[-1]}",
            "error_codes": md_counts(
                invoices.loc[failed, "error_code"].value_counts().sort_index(),
                "error_code",
                "count",
            ),
        },
    )
