"""``extractions``: every invoice file of the inbox day, extracted into records (or failures).

Registers the day's files in the queue (received → processing → done/failed), routes each file by
content through the extractor, marks duplicate invoice keys, and writes one row per invoice (ok or
failed with its ``error_code``) plus the line items, in one transaction per run.
"""

from pathlib import Path

import dagster as dg
import pandas as pd

from invoice_assets.checks.expectations import EXTRACTIONS_CHECK, extractions_expectations
from invoice_assets.domain.arrays import rate
from invoice_assets.domain.records import (
    InboxItem,
    ItemError,
    items_to_frames,
    mark_duplicates,
    sniff_kind,
)
from invoice_assets.partitions import daily_partitions, partition_days
from invoice_assets.stage import KINDS, OWNERS, keyed_view, md_counts
from resources.extractor import ExtractedItem, InboxExtractor
from resources.inbox import InboxResource
from resources.openai_extractor import ExtractionCache, OpenAIExtractor
from resources.store import InboxEntry, InvoiceStore, utcnow


def _documents(
    entries: list[InboxEntry],
    queue: pd.DataFrame,
    openai: OpenAIExtractor,
    store: InvoiceStore,
) -> tuple[dict[str, list[ExtractedItem]], dict[str, float]]:
    """PDF and image files through the OpenAI extractor (cached; exhausted ones not retried)."""
    previous = queue.set_index("file_name") if len(queue) else None
    docs, out = [], {}
    for entry in entries:
        content = Path(entry.path).read_bytes()
        if sniff_kind(content) not in ("pdf", "image"):
            continue
        prior = (
            previous.loc[entry.file_name]
            if previous is not None and entry.file_name in previous.index
            else None
        )
        if (
            prior is not None
            and prior["status"] == "failed"
            and prior["sha256"] == entry.sha256
            and int(prior["attempts"]) >= openai.max_attempts
        ):
            error = ItemError("exhausted", None, f"{int(prior['attempts'])} attempts failed")
            exhausted = InboxItem(entry.file_name, None, entry.sha256, None, error)
            out[entry.file_name] = [ExtractedItem(exhausted, None, None)]
            continue
        docs.append((entry.file_name, content))
    usage: dict[str, float] = {}
    if docs:
        batch = openai.extract_documents(docs, ExtractionCache(store))
        for (name, _), outcome in zip(docs, batch.items, strict=True):
            out[name] = [outcome]
        usage = {k: float(v) for k, v in batch.usage.items() if isinstance(v, int | float)}
    return out, usage


def _extract_day(
    day: str,
    store: InvoiceStore,
    inbox: InboxResource,
    extractor: InboxExtractor,
    openai: OpenAIExtractor,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, float]]:
    entries = inbox.list_files(day)
    store.register_inbox(day, entries)
    queue = store.inbox_files([day])
    names = [e.file_name for e in entries]
    store.set_inbox_status(day, names, "processing", attempt=True)
    started = utcnow()
    documents, usage = _documents(entries, queue, openai, store) if openai.api_key else ({}, {})
    outcomes = []
    for entry in entries:
        outcomes.extend(documents.get(entry.file_name) or extractor.extract_file(Path(entry.path)))
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
    return invoices, lines, usage


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
    openai: OpenAIExtractor,
) -> dg.MaterializeResult:
    """One row per invoice found in the inbox day (ok or failed with an error_code)."""
    days = partition_days(context)
    store.ensure_schema()
    frames = [_extract_day(day, store, inbox, extractor, openai) for day in days]
    usage: dict[str, float] = {}
    for _, _, day_usage in frames:
        for key, value in day_usage.items():
            usage[key] = usage.get(key, 0.0) + value
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
            "openai_enabled": bool(openai.api_key),
            "openai_calls": int(usage.get("calls", 0)),
            "openai_cache_hits": int(usage.get("cache_hits", 0)),
            "openai_input_tokens": int(usage.get("input_tokens", 0)),
            "openai_output_tokens": int(usage.get("output_tokens", 0)),
            "openai_estimated_cost_usd": round(usage.get("estimated_cost_usd", 0.0), 4),
            "days": ", ".join(days) if len(days) <= 7 else f"{days[0]} … {days[-1]}",
            "error_codes": md_counts(
                invoices.loc[failed, "error_code"].value_counts().sort_index(),
                "error_code",
                "count",
            ),
        },
    )
