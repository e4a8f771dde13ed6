"""Extractors: turn inbox files into extraction records (one ``Extractor`` interface, one router).

Every path implements ``Extractor`` (a ``method`` name and ``extract(documents)`` returning one
``Outcome`` per document, SPEC §4.1 records or coded failures): ``RecordsReader`` (pre-extracted
JSON and JSON Lines), ``UblReader`` (UBL-TR XML and zips of it), ``HtmlReader`` (the e-Fatura
viewer's HTML), ``PdfReader`` (text layer, QR codes, OCR of image-only pages), ``ImageReader``
(OCR of PNG/JPEG) and ``OpenAIReader`` (the OpenAI extractor). ``InboxExtractor`` is the router: it
sniffs each file's content (never its name) and picks the path, applying the extraction mode
(``INVOICE_EXTRACTION_MODE``):

- ``offline``: the local readers only, no network;
- ``openai``: documents go to OpenAI only (``extractor_unavailable`` without a key);
- ``auto`` (default): offline first; OpenAI, when a key is set, only for documents offline could
  not read or whose key fields (``records.KEY_FIELDS``) stay below LOW_CONFIDENCE: for those
  fields OpenAI's value is taken and the evidence says what offline read;
- ``compare``: both for every document; a numeric field on which they disagree (by more than
  ``COMPARE_RELATIVE``) keeps the offline value with its confidence lowered below LOW_CONFIDENCE and
  both values in its evidence, so the existing LOW_CONFIDENCE flag sends the invoice to review (no
  new flag, no store change).

The router also owns what the extractions asset did before: one read per file (documents are
sniffed from their first bytes, JSON files are read once, by the batch that parses them), the
retry limit of paid calls (a document that failed ``max_attempts`` times with the same bytes is
``exhausted``, no call), and the separate size limit of documents (``max_document_bytes``, default
50 MiB) and pages (``max_pages``). Every file yields at least one item: invoices in = ok + failed.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import stat
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Literal, Protocol

import dagster as dg
from pydantic import Field

from invoice_assets.domain.records import (
    DOCUMENT_KINDS,
    KEY_FIELDS,
    NUMERIC_FIELDS,
    ExtractionRecord,
    InboxItem,
    ItemError,
    parse_inbox_content,
    parse_record,
    sniff_kind,
    source_name,
)

if TYPE_CHECKING:
    import pandas as pd

    from resources.openai_extractor import OpenAIExtractor
    from resources.readers.router import Reading, ReadLimits
    from resources.store import InboxEntry, InvoiceStore

log = logging.getLogger(__name__)

MODES = ("offline", "openai", "auto", "compare")
Mode = Literal["offline", "openai", "auto", "compare"]
COMPARE_RELATIVE = 0.005  # two readings of one field agree within 0.5 % (issue 15 "done when")
SNIFF_BYTES = 4096
OPENAI_KINDS = ("pdf", "image")  # what the OpenAI extractor can be sent


@dataclass(frozen=True)
class ExtractedItem:
    """One invoice's extraction outcome with the cost of getting it."""

    item: InboxItem
    extraction_ms: float | None  # the extractor call itself; None when no call was made
    http_status: int | None  # the extraction API's answer, when there was one


@dataclass(frozen=True)
class Document:
    """One inbox file's bytes, read once, with its sniffed kind."""

    name: str
    content: bytes
    sha256: str
    kind: str


@dataclass
class Outcome:
    """What one path made of one document: the method, its items, the seconds it took."""

    method: str  # records | ubl | html | text | ocr | openai | compare
    items: list[ExtractedItem]
    seconds: float = 0.0

    @property
    def failed(self) -> bool:
        return all(x.item.record is None for x in self.items)


class Extractor(Protocol):
    """Every extraction path: documents in, one ``Outcome`` per document out, in order; never
    raises for content (bad input is an item with an ``ItemError``)."""

    @property
    def method(self) -> str: ...

    def extract(self, documents: Sequence[Document]) -> list[Outcome]: ...


class FileExtractor(Protocol):
    """What ``resources.inbox.extract_entry`` needs: every invoice of one inbox file."""

    def extract_file(self, path: Path) -> list[ExtractedItem]: ...


# -- the paths ------------------------------------------------------------------------------------


@dataclass
class RecordsReader:
    """Pre-extracted SPEC §4.1 records: a ``.json`` record or a ``.jsonl`` of them."""

    max_bytes: int
    method: str = "records"

    def extract(self, documents: Sequence[Document]) -> list[Outcome]:
        out = []
        for doc in documents:
            items = parse_inbox_content(doc.name, doc.content, self.max_bytes)
            out.append(Outcome(self.method, [ExtractedItem(i, None, None) for i in items]))
        return out


class OcrStoreCache:
    """OCR readings kept in the extraction cache table (its own model key; no schema change)."""

    def __init__(self, store: InvoiceStore) -> None:
        from resources.store.extraction_cache import ExtractionCache

        self.cache = ExtractionCache(store)

    @staticmethod
    def _key(sha: str, index: int) -> str:
        from resources.readers.ocr import OCR_MODEL
        from resources.readers.router import OCR_VERSION
        from resources.store.extraction_cache import ExtractionCache

        return ExtractionCache.key(sha, OCR_MODEL, f"{OCR_VERSION}#{index}", "records-v1")

    def get(self, sha256: str) -> list[dict[str, Any]] | None:
        keys = [self._key(sha256, i) for i in range(64)]
        found = self.cache.get_many(keys)
        records = []
        for key in keys:
            if key not in found:
                break
            records.append(found[key].model_dump(mode="json"))
        return records or None

    def put(self, sha256: str, records: list[dict[str, Any]]) -> None:
        from resources.readers.ocr import OCR_MODEL
        from resources.readers.router import OCR_VERSION

        for index, raw in enumerate(records[:64]):
            record = parse_record(raw)
            if not isinstance(record, ExtractionRecord):
                return
            try:
                self.cache.put(
                    self._key(sha256, index),
                    file_sha256=sha256,
                    model=OCR_MODEL,
                    prompt_version=f"{OCR_VERSION}#{index}",
                    schema_hash="records-v1",
                    record=record,
                    raw_response=None,
                    usage=None,
                )
            except Exception as exc:  # a cache write must not lose the reading
                log.warning("OCR cache write failed: %s", type(exc).__name__)
                return


@dataclass
class _OfflineReader:
    """The offline readers of ``resources/readers`` for one family of document kinds."""

    limits: ReadLimits
    ocr: bool = True
    cache: Any = None  # an ``OcrCache`` (``OcrStoreCache``) or None
    method: str = "offline"

    def extract(self, documents: Sequence[Document]) -> list[Outcome]:
        from resources.readers.router import read_offline

        out = []
        for doc in documents:
            reading = read_offline(doc.content, limits=self.limits, ocr=self.ocr, cache=self.cache)
            out.append(Outcome(reading.method, items_of(doc, reading), reading.seconds))
        return out


class UblReader(_OfflineReader):
    """UBL-TR XML invoices, alone or zipped (``resources/readers/ubl.py``)."""

    method = "ubl"


class HtmlReader(_OfflineReader):
    """The e-Fatura viewer's HTML rendering (``resources/readers/html.py``)."""

    method = "html"


class PdfReader(_OfflineReader):
    """PDFs: text layer with bundles split, QR codes, OCR of image-only pages."""

    method = "text"


class ImageReader(_OfflineReader):
    """PNG/JPEG/GIF/WebP invoices through OCR and their QR code."""

    method = "ocr"


@dataclass
class OpenAIReader:
    """Documents through the OpenAI extractor (cached by content hash in the store)."""

    openai: OpenAIExtractor
    store: InvoiceStore | None = None
    method: str = "openai"
    usage: dict[str, float] = field(default_factory=dict)

    def extract(self, documents: Sequence[Document]) -> list[Outcome]:
        from resources.store.extraction_cache import ExtractionCache

        if not documents:
            return []
        started = time.perf_counter()
        cache = ExtractionCache(self.store) if self.store is not None else None
        batch = self.openai.extract_documents([(d.name, d.content) for d in documents], cache)
        for key, value in batch.usage.items():
            if isinstance(value, int | float):
                self.usage[key] = self.usage.get(key, 0.0) + float(value)
        seconds = (time.perf_counter() - started) / len(documents)
        return [Outcome(self.method, [item], seconds) for item in batch.items]


def items_of(doc: Document, reading: Reading) -> list[ExtractedItem]:
    """The items of an offline reading: one per invoice found, each a record or its error."""
    count = len(reading.results)
    ms = reading.seconds * 1000.0 / max(count, 1)
    out = []
    for index, result in enumerate(reading.results):
        line_no = index + 1 if count > 1 else None
        sha = doc.sha256 if count == 1 else _sha(f"{doc.sha256}#{index + 1}".encode())
        label = reading.labels[index] if index < len(reading.labels) else None
        record: ExtractionRecord | None = None
        error: ItemError | None = None
        if isinstance(result, dict):
            parsed = parse_record(result)
            if isinstance(parsed, ItemError):
                error = ItemError(
                    "schema_violation", parsed.field, f"{parsed.code}: {parsed.message}"
                )
            else:
                record = parsed
        else:
            where = f"{label}: " if label else ""
            error = ItemError(result.code, None, f"{where}{result.message}"[:1000])
        out.append(ExtractedItem(InboxItem(doc.name, line_no, sha, record, error), ms, None))
    return out


# -- combining offline and OpenAI (auto and compare) ---------------------------------------------


def _low_fields(record: ExtractionRecord, low: float) -> list[str]:
    return [name for name in KEY_FIELDS if getattr(record.extraction, name).confidence < low]


def _merge(
    offline: ExtractedItem, other: ExtractedItem, fields: Sequence[str], low: float, mode: str
) -> ExtractedItem:
    """``offline`` with ``fields`` judged against OpenAI's reading ``other``."""
    mine, theirs = offline.item.record, other.item.record
    assert mine is not None and theirs is not None
    updates: dict[str, Any] = {}
    for name in fields:
        a, b = getattr(mine.extraction, name), getattr(theirs.extraction, name)
        if mode == "auto":
            if b.value is None:
                continue
            note = f"OpenAI: {b.evidence or b.value} | offline read {a.value} at {a.confidence:.2f}"
            updates[name] = b.model_copy(update={"evidence": note[:1900]})
        elif a.value is not None and b.value is not None:
            scale = max(abs(a.value), abs(b.value), 1e-9)
            if abs(a.value - b.value) / scale > COMPARE_RELATIVE:
                note = (
                    f"WARNING compare: offline {a.value} vs OpenAI {b.value} "
                    f"| offline evidence: {a.evidence or ''}"
                )
                confidence = min(a.confidence, low / 2)
                updates[name] = a.model_copy(
                    update={"confidence": confidence, "evidence": note[:1900]}
                )
    if not updates:
        return offline
    extraction = mine.extraction.model_copy(update=updates)
    record = mine.model_copy(update={"extraction": extraction})
    return ExtractedItem(
        InboxItem(
            offline.item.source_file, offline.item.line_no, offline.item.raw_sha256, record, None
        ),
        (offline.extraction_ms or 0.0) + (other.extraction_ms or 0.0),
        other.http_status,
    )


@dataclass(frozen=True)
class DocumentBatch:
    """The router's answer for a day's documents: outcome per file name, and OpenAI usage."""

    outcomes: dict[str, Outcome]
    usage: dict[str, float]


class InboxExtractor(dg.ConfigurableResource):
    """The router: every inbox file through the path its content needs (see the module doc)."""

    max_file_bytes: int = Field(
        default=10 * 1024 * 1024,
        gt=0,
        description="Record files (JSON/JSONL) larger than this fail as file_too_large.",
    )
    batch_bytes: int = Field(
        default=32 * 1024 * 1024,
        gt=0,
        description="Inbox files are parsed, framed and written in batches of about this many "
        "bytes (~25k invoices), so the extractions step's memory follows the batch, not the day.",
    )
    parse_bytes: int = Field(
        default=4 * 1024 * 1024,
        gt=0,
        description="Within a batch, files are parsed about this many bytes at a time and only "
        "their rows are kept (~3.5k invoices: a parsed record is ~13 kB of Python objects, its "
        "row ~2 kB).",
    )
    mode: str = Field(
        default="auto",
        pattern="^(offline|openai|auto|compare)$",
        description="INVOICE_EXTRACTION_MODE: offline | openai | auto | compare.",
    )
    ocr: bool = Field(default=True, description="OCR of image-only pages and images (INVOICE_OCR).")
    max_document_bytes: int = Field(
        default=50 * 1024 * 1024,
        gt=0,
        description="Documents (PDF, image, XML, zip, HTML) larger than this: file_too_large.",
    )
    max_pages: int = Field(
        default=500, gt=0, description="PDFs with more pages fail as pdf_too_many_pages."
    )
    low_confidence: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="LOW_CONFIDENCE of config/thresholds.yaml (read from it when unset).",
    )

    @property
    def method(self) -> str:
        return f"router:{self.mode}"

    # -- one file (CLI, tests, record files of the asset) --------------------------------------
    def extract_file(self, path: Path) -> list[ExtractedItem]:
        """Every invoice in one inbox file (never raises for bad content); documents go offline
        (the asset sends them through ``extract_documents`` first, with OpenAI and the cache)."""
        name = source_name(path.name)
        document, failure = self.read_document(path, name)
        if failure is not None:
            return failure
        assert document is not None
        if document.kind in DOCUMENT_KINDS:
            return self.route([document])[0][0].items
        items = parse_inbox_content(name, document.content, self.max_file_bytes)
        return [ExtractedItem(item, None, None) for item in items]

    def read_document(
        self, path: Path, name: str, documents_only: bool = False
    ) -> tuple[Document | None, list[ExtractedItem] | None]:
        """The file's bytes (read once, within the limit of its kind), or its failure; with
        ``documents_only`` a record file is left unread (``(None, None)``)."""
        try:
            with open_regular(path) as handle:
                size = os.fstat(handle.fileno()).st_size
                head = handle.read(SNIFF_BYTES)
                kind = sniff_kind(head) if head.strip() else sniff_kind(head + handle.read())
                is_doc = kind in DOCUMENT_KINDS
                if documents_only and not is_doc:
                    return None, None
                limit = self.max_document_bytes if is_doc else self.max_file_bytes
                if size > limit:
                    handle.seek(0)
                    digest = _sha_handle(handle)
                    error = ItemError("file_too_large", None, f"{size} bytes > limit {limit}")
                    return None, [
                        ExtractedItem(InboxItem(name, None, digest, None, error), None, None)
                    ]
                content = head + handle.read(limit + 1 - len(head))
        except OSError as exc:
            error = ItemError("unreadable_file", None, exc.strerror or str(exc))
            digest = hashlib.sha256(name.encode()).hexdigest()
            return None, [ExtractedItem(InboxItem(name, None, digest, None, error), None, None)]
        kind = sniff_kind(content)
        return Document(name, content, _sha(content), kind), None

    # -- the router ----------------------------------------------------------------------------
    def limits(self) -> ReadLimits:
        from resources.readers.router import ReadLimits

        return ReadLimits(max_document_bytes=self.max_document_bytes, max_pages=self.max_pages)

    def reader_for(self, kind: str, cache: Any = None) -> Extractor:
        """The offline path for a kind of content."""
        if kind in ("json", "jsonl", "empty", "unknown"):
            return RecordsReader(self.max_file_bytes)
        family: type[_OfflineReader] = {
            "xml": UblReader,
            "zip": UblReader,
            "html": HtmlReader,
            "pdf": PdfReader,
            "image": ImageReader,
        }[kind]
        return family(self.limits(), self.ocr, cache)

    def threshold(self) -> float:
        if self.low_confidence is not None:
            return self.low_confidence
        from resources.thresholds import load_thresholds

        return float(load_thresholds().Validation.LOW_CONFIDENCE)

    def route(
        self,
        documents: Sequence[Document],
        openai: OpenAIExtractor | None = None,
        store: InvoiceStore | None = None,
        exhausted: dict[str, int] | None = None,
    ) -> tuple[list[Outcome], dict[str, float]]:
        """One outcome per document, by mode, and the OpenAI usage; ``exhausted`` names documents
        whose paid attempts are used up (name → attempts: they are not sent to OpenAI again)."""
        enabled = openai is not None and bool(openai.api_key)
        exhausted = exhausted or {}
        usage: dict[str, float] = {}
        cache = OcrStoreCache(store) if store is not None else None
        outcomes: list[Outcome | None] = [None] * len(documents)
        offline: dict[int, Outcome] = {}
        for index, doc in enumerate(documents):  # records always; documents unless openai-only
            if self.mode != "openai" or doc.kind not in DOCUMENT_KINDS:
                (offline[index],) = self.reader_for(doc.kind, cache).extract([doc])
        low = self.threshold() if self.mode in ("auto", "compare") else 0.0
        ask: list[int] = []
        for index, doc in enumerate(documents):
            mine = offline.get(index)
            if mine is not None and (mine.method == "records" or self.mode == "offline"):
                outcomes[index] = mine
                continue
            if self.mode == "auto" and mine is not None:
                records = [x.item.record for x in mine.items if x.item.record is not None]
                weak = len(mine.items) == 1 and records and _low_fields(records[0], low)
                if not mine.failed and not weak:
                    outcomes[index] = mine
                    continue
            if not enabled or doc.kind not in OPENAI_KINDS:
                outcomes[index] = mine or _unavailable(doc)
                continue
            if doc.name in exhausted and (mine is None or mine.failed):
                outcomes[index] = _exhausted(doc, mine, exhausted[doc.name])
                continue
            if doc.name in exhausted:
                outcomes[index] = mine
                continue
            ask.append(index)
        if ask:
            assert openai is not None
            reader = OpenAIReader(openai, store)
            answers = reader.extract([documents[i] for i in ask])
            usage = reader.usage
            for index, answer in zip(ask, answers, strict=True):
                outcomes[index] = self._combine(offline.get(index), answer, low)
        return [o for o in outcomes if o is not None], usage

    def _combine(self, mine: Outcome | None, answer: Outcome, low: float) -> Outcome:
        if mine is None or mine.failed:
            if mine is not None and answer.failed:
                (item,) = answer.items
                assert item.item.error is not None
                first = next(x.item.error for x in mine.items if x.item.error is not None)
                assert first is not None
                message = f"{item.item.error.message} (offline: {first.code})"
                error = ItemError(item.item.error.code, item.item.error.field, message[:1000])
                failed = ExtractedItem(
                    InboxItem(item.item.source_file, None, item.item.raw_sha256, None, error),
                    item.extraction_ms,
                    item.http_status,
                )
                return Outcome(answer.method, [failed], answer.seconds + mine.seconds)
            return answer
        if answer.failed or len(mine.items) != 1:
            return mine
        (offline_item,) = mine.items
        (openai_item,) = answer.items
        record = offline_item.item.record
        assert record is not None
        if self.mode == "auto":
            merged = _merge(offline_item, openai_item, _low_fields(record, low), low, "auto")
            return Outcome("openai" if merged is not offline_item else mine.method, [merged],
                           mine.seconds + answer.seconds)  # fmt: skip
        merged = _merge(offline_item, openai_item, NUMERIC_FIELDS, low, "compare")
        return Outcome("compare", [merged], mine.seconds + answer.seconds)

    def extract(self, documents: Sequence[Document]) -> list[Outcome]:
        """``Extractor``: the documents routed offline (no OpenAI, no store)."""
        return self.route(documents)[0]

    def extract_documents(
        self,
        entries: Sequence[InboxEntry],
        queue: pd.DataFrame,
        openai: OpenAIExtractor,
        store: InvoiceStore,
    ) -> DocumentBatch:
        """The documents of an inbox day (every file that is not a record file), routed.

        Each document is read once here; record files are left to ``extract_file`` (the asset's
        batches). A document that already failed ``openai.max_attempts`` times with the same bytes
        is not sent to OpenAI again (``exhausted``)."""
        previous = queue.set_index("file_name") if len(queue) else None
        documents: list[Document] = []
        out: dict[str, Outcome] = {}
        exhausted: dict[str, int] = {}
        usage: dict[str, float] = {}

        def flush() -> None:  # route what was read: only a batch of documents is in memory
            outcomes, used = self.route(documents, openai, store, exhausted)
            for document, outcome in zip(documents, outcomes, strict=True):
                out[document.name] = outcome
            for key, value in used.items():
                usage[key] = usage.get(key, 0.0) + value
            documents.clear()

        for entry in entries:
            if entry.refusal is not None:  # never opened (links out of the inbox, FIFOs, …)
                continue
            document, failure = self.read_document(Path(entry.path), entry.file_name, True)
            if failure is not None:
                out[entry.file_name] = Outcome("records", failure)
                continue
            if document is None:
                continue
            documents.append(document)
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
                exhausted[entry.file_name] = int(prior["attempts"])
            if sum(len(d.content) for d in documents) >= self.batch_bytes:
                flush()
        if documents:
            flush()
        return DocumentBatch(out, usage)


def _unavailable(doc: Document) -> Outcome:
    if doc.kind in OPENAI_KINDS:
        message = f"{doc.kind}: INVOICE_EXTRACTION_MODE=openai needs OPENAI_API_KEY (none is set)"
    else:
        message = f"{doc.kind}: INVOICE_EXTRACTION_MODE=openai reads only PDFs and images"
    error = ItemError("extractor_unavailable", None, message)
    return Outcome(
        "openai", [ExtractedItem(InboxItem(doc.name, None, doc.sha256, None, error), None, None)]
    )


def _exhausted(doc: Document, mine: Outcome | None, attempts: int) -> Outcome:
    error = ItemError("exhausted", None, f"{attempts} attempts failed")
    item = ExtractedItem(InboxItem(doc.name, None, doc.sha256, None, error), None, None)
    return Outcome("openai", [item], mine.seconds if mine else 0.0)


def _sha(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def open_regular(path: Path, follow: bool = True) -> BinaryIO:
    """``path`` open for reading if it is a regular file, else ``OSError``: a FIFO is opened
    without blocking and refused, a directory or device refused; ``follow=False`` refuses a final
    symbolic link too."""
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | (0 if follow else os.O_NOFOLLOW)
    fd = os.open(path, flags)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _sha_handle(handle: BinaryIO) -> str:
    digest = hashlib.sha256()
    for chunk in iter(lambda: handle.read(1 << 20), b""):
        digest.update(chunk)
    return digest.hexdigest()


def sha_file(path: Path, follow: bool = True) -> str:
    """sha256 of a regular file's bytes, streamed (``OSError`` for anything else)."""
    with open_regular(path, follow) as handle:
        return _sha_handle(handle)
