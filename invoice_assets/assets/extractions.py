"""``extractions``: every invoice file of the inbox day, extracted into records (or failures).

Registers the day's files in the queue (received → processing → done/failed), routes each file by
content through the extractor, marks duplicate invoice keys, and writes one row per invoice (ok or
failed with its ``error_code``) plus the line items, in one transaction per run. Files are written
in batches (``InboxExtractor.batch_bytes``, 32 MiB) and parsed ``parse_bytes`` (4 MiB) at a time,
so memory follows the batch's rows, not the day (10M invoices a day).
"""

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

import dagster as dg
import pandas as pd

from invoice_assets.assets.daily import Check, DayReport, daily_asset, rounded
from invoice_assets.assets.reads import md_counts
from invoice_assets.checks.expectations import (
    EXTRACTIONS_CHECK,
    KEYS_REPEATED,
    SuiteOutcome,
    combine,
    extractions_outcome,
)
from invoice_assets.domain.arrays import rate
from invoice_assets.domain.frames import items_to_frames
from invoice_assets.domain.records import mark_duplicates
from invoice_assets.domain.suppliers import SupplierDirectory
from invoice_assets.kernel.keyset import KeySet
from invoice_assets.kernel.memory import collector_paused
from invoice_assets.services.dead_runs import TAG_PROCESS, process_tags
from resources.clock import ClockResource
from resources.extractor import ExtractedItem, InboxExtractor
from resources.inbox import InboxResource, extract_entry
from resources.openai_extractor import OpenAIExtractor
from resources.store import InboxEntry, InvoiceStore
from resources.store import schema as s
from resources.suppliers import SuppliersResource

CHECKED = ["day", "invoice_key", "source_file", "status", "error_code"]  # kept for the GX suite


def _batches(entries: list[InboxEntry], limit: int) -> Iterator[list[InboxEntry]]:
    """Consecutive runs of files holding at most ``limit`` bytes (a bigger file goes alone)."""
    batch: list[InboxEntry] = []
    size = 0
    for entry in entries:
        if batch and size + entry.size_bytes > limit:
            yield batch
            batch, size = [], 0
        batch.append(entry)
        size += entry.size_bytes
    if batch:
        yield batch


def _joined(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Frames of the same columns and dtypes, one after the other."""
    return pd.concat(frames, ignore_index=True)


@dataclass
class _Day:
    """One inbox day being extracted: its files, documents already extracted, and the tallies
    its batches add to while they stream into the store."""

    day: str
    entries: list[InboxEntry]
    documents: dict[str, list[ExtractedItem]]
    started: datetime
    seen: KeySet = field(default_factory=KeySet)  # invoice keys so far: duplicates across batches
    files: dict[str, tuple[int, int]] = field(default_factory=dict)  # file → (invoices, failed)
    codes: dict[str, str | None] = field(default_factory=dict)  # file → its first error code
    checked: list[SuiteOutcome] = field(default_factory=list)  # the GX suite, batch by batch
    received: int = 0
    failed: int = 0
    error_codes: dict[str, int] = field(default_factory=dict)  # error code → failed invoices
    line_items: int = 0

    def frames(
        self, extractor: InboxExtractor, suppliers: SupplierDirectory
    ) -> Iterator[dict[str, pd.DataFrame]]:
        """The day's rows, one batch of files at a time (``InboxExtractor.batch_bytes``: one
        write and one GX run each); invoice keys hold the canonical supplier id of the
        ``suppliers`` table. Within a batch, files are parsed ``parse_bytes`` at a time and only
        their frames are kept: a parsed record is ~13 kB of Python objects, its row ~2 kB."""
        for batch in _batches(self.entries, extractor.batch_bytes):
            parts = [
                self._framed(files, extractor, suppliers)
                for files in _batches(batch, extractor.parse_bytes)
            ]
            invoices, lines = (
                (_joined([p[0] for p in parts]), _joined([p[1] for p in parts]))
                if len(parts) > 1
                else parts[0]
            )
            del parts
            self._tally(invoices, len(lines))
            yield {"extractions": invoices, "line_items": lines}

    def _framed(
        self, files: list[InboxEntry], extractor: InboxExtractor, suppliers: SupplierDirectory
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The rows of some files, in their order (duplicates against every key seen so far)."""
        # The records are freed before the collector resumes: it never has to walk them (a
        # collection over thousands of live records costs more than parsing them).
        with collector_paused():
            outcomes: list[ExtractedItem] = []
            for entry in files:
                found = self.documents.get(entry.file_name)
                outcomes.extend(found or extract_entry(entry, extractor))
            invoices, lines = items_to_frames(
                mark_duplicates([o.item for o in outcomes], self.seen, suppliers)
            )
            timings = [o.extraction_ms for o in outcomes]
            statuses = [o.http_status for o in outcomes]
            del outcomes
        invoices["day"] = self.day
        invoices["extraction_ms"] = timings
        invoices["http_status"] = statuses
        invoices["started_at"] = self.started
        lines["day"] = self.day
        return invoices, lines

    def _tally(self, invoices: pd.DataFrame, line_items: int) -> None:
        failed = invoices["status"].eq("failed").to_numpy()
        per_file = pd.DataFrame({"file": invoices["source_file"].to_numpy(), "failed": failed})
        sizes = per_file.groupby("file", sort=False)["failed"].agg(["size", "sum"])
        for name, size, bad in sizes.itertuples(name=None):
            total, failed_so_far = self.files.get(name, (0, 0))
            self.files[name] = (total + int(size), failed_so_far + int(bad))
        errors = invoices.loc[failed, ["source_file", "error_code"]].drop_duplicates("source_file")
        for name, code in errors.itertuples(index=False, name=None):
            self.codes.setdefault(name, code)
        confidences = [c for c in invoices.columns if c.startswith("conf_")]
        self.checked.append(extractions_outcome(invoices[[*CHECKED, *confidences]]))
        self.received += len(invoices)
        self.failed += int(failed.sum())
        for code, count in invoices.loc[failed, "error_code"].value_counts().items():
            self.error_codes[code] = self.error_codes.get(code, 0) + int(count)
        self.line_items += line_items

    def expectations(self) -> dg.AssetCheckResult:
        """The GX suite over the day: its batches' outcomes combined, and the day's invoice keys
        unique across batches (every row's key went through ``seen``: distinct keys = rows)."""
        outcome = combine(self.checked or [extractions_outcome(_no_rows(self))])
        if len(self.checked) > 1:
            outcome.extras[KEYS_REPEATED] = self.received - len(self.seen)
        return outcome.result()

    def settle(self, store: InvoiceStore) -> None:
        """Queue states once the rows are stored: files whose every invoice failed are failed."""
        names = [e.file_name for e in self.entries]
        counts = {n: self.files.get(n, (0, 0)) for n in names}
        failed = [n for n in names if counts[n][0] == counts[n][1]]
        done = [n for n in names if counts[n][0] != counts[n][1]]
        store.set_inbox_status(self.day, done, "done", items=counts)
        store.set_inbox_status(self.day, failed, "failed", items=counts, error_codes=self.codes)


def _open_day(
    day: str,
    store: InvoiceStore,
    inbox: InboxResource,
    extractor: InboxExtractor,
    openai: OpenAIExtractor,
    clock: ClockResource,
) -> tuple[_Day, dict[str, float]]:
    """Register the day's files as processing and extract its documents (before any rows are
    written: the extraction cache and the queue are written outside the stage transaction)."""
    entries = inbox.list_files(day)
    store.register_inbox(day, entries)
    queue = store.inbox_files([day])
    store.set_inbox_status(day, [e.file_name for e in entries], "processing", attempt=True)
    started = clock.now()
    batch = extractor.extract_documents(entries, queue, openai, store)  # the router
    documents = {name: outcome.items for name, outcome in batch.outcomes.items()}
    return _Day(day, entries, documents, started), batch.usage


@daily_asset(
    group="invoices",
    tables=(s.extractions, s.line_items),
    pool="openai",
    checks=[
        Check(
            EXTRACTIONS_CHECK,
            "Great Expectations suite on the day's extraction rows: invoice keys present and "
            "unique per day, statuses known, confidences in [0, 1], every failure coded.",
        )
    ],
)
def extractions(
    context: dg.AssetExecutionContext,
    store: InvoiceStore,
    inbox: InboxResource,
    extractor: InboxExtractor,
    openai: OpenAIExtractor,
    suppliers: SuppliersResource,
    clock: ClockResource,
):
    """One row per invoice found in the inbox day (ok or failed with an error_code)."""
    report = DayReport(context)
    days = report.days
    if TAG_PROCESS not in context.run.tags:  # a run the daemon or the UI launched
        # name the process that holds this run's pool slot, so a dead one can be reaped
        context.instance.add_run_tags(context.run_id, process_tags())
    known = suppliers.load()  # before any file is registered: a broken table stops the run
    opened = [_open_day(day, store, inbox, extractor, openai, clock) for day in days]
    work = [d for d, _ in opened]
    # decisions follow extractions: the days' decision times go with their old rows
    store.replace_extractions(
        ["extractions", "line_items"], days, (f for d in work for f in d.frames(extractor, known))
    )
    for d, usage in opened:
        d.settle(store)
        context.log.info("extracted %d invoices (%d failed) for %s", d.received, d.failed, d.day)
        report.day(d.day, _figures(d, usage, bool(openai.api_key)))
        report.check(d.day, d.expectations())
    yield from report.results()


def _no_rows(d: _Day) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in CHECKED})


def _figures(d: _Day, usage: dict[str, float], openai: bool) -> dict[str, object]:
    received = d.received
    return {
        "dagster/row_count": received,
        "invoices_received": received,
        "invoices_ok": received - d.failed,
        "invoices_failed": d.failed,
        "failure_rate": rounded(rate(d.failed, received)),
        "files": len(d.entries),
        "line_items": d.line_items,
        "openai_enabled": openai,
        "openai_calls": int(usage.get("calls", 0)),
        "openai_cache_hits": int(usage.get("cache_hits", 0)),
        "openai_input_tokens": int(usage.get("input_tokens", 0)),
        "openai_output_tokens": int(usage.get("output_tokens", 0)),
        "openai_estimated_cost_usd": round(usage.get("estimated_cost_usd", 0.0), 4),
        "error_codes": md_counts(dict(sorted(d.error_codes.items())), "error_code", "count"),
    }
