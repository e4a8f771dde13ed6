"""The extraction record (SPEC §4.1): strict parsing of inbox content into typed records.

What it is for: turning bytes from the inbox (a ``.json`` record or a ``.jsonl`` of records) or a
parsed OpenAI answer into ``ExtractionRecord`` objects and computing the stable invoice key.
``frames.py`` flattens the parsed items into the frames the rest of the domain works on.
Every failure is an ``ItemError`` with a machine-readable ``code`` and the offending ``field``;
nothing here raises on bad input.

Not for: talking to OpenAI, reading files from disk, or deciding what a bad value means for the
business (implausible but well-typed values pass here and are judged by validation).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from invoice_assets.domain.suppliers import NO_TABLE, Supplier, SupplierDirectory
from invoice_assets.kernel.keyset import KeySet
from invoice_assets.kernel.memory import collector_paused

AMOUNT_FIELDS: tuple[str, ...] = (  # the money fields, in TL
    "invoice_total_with_vat_tl",
    "energy_total_tl",
    "distribution_total_tl",
    "btv_tl",
    "vat_tl",
    "yek_amount_tl",
    "payable_tl",
)
NUMERIC_FIELDS: tuple[str, ...] = (
    "consumption_kwh",
    "current_active_unit_price_tl_per_kwh",
    "distribution_unit_price_tl_per_kwh",
    "demand_qty",
    "demand_unit_price_tl_per_unit",
    *AMOUNT_FIELDS,
)
META_FIELDS: tuple[str, ...] = (
    "invoice_no",
    "ettn",
    "supplier",
    "invoice_date",
    "invoice_period",
    "tariff_group",
    "voltage_level",
    "tariff_term",
)
KEY_FIELDS: tuple[str, ...] = (
    "consumption_kwh",
    "current_active_unit_price_tl_per_kwh",
    "invoice_total_with_vat_tl",
)
MAX_TEXT = 512  # longest identifier or label kept; longer is not an invoice field
MAX_EVIDENCE = 2_000
MAX_LINE_ITEMS = 500

Confidence = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
Amount = Annotated[float | None, Field(allow_inf_nan=False)]
Text = Annotated[str, Field(max_length=MAX_TEXT)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class FieldValue(_Strict):
    """One extracted number with the extractor's confidence and where it was read."""

    value: Amount = None
    confidence: Confidence = 0.0
    evidence: Annotated[str | None, Field(max_length=MAX_EVIDENCE)] = None
    page: Annotated[int | None, Field(ge=1, le=10_000)] = None


class LineItem(_Strict):
    label: Text
    qty: Amount = None
    unit: Text | None = None
    unit_price: Amount = None
    amount_tl: Amount = None
    confidence: Confidence = 0.0


class InvoiceMeta(_Strict):
    invoice_no: Text | None = None
    ettn: Text | None = None
    supplier: Annotated[str, Field(min_length=1, max_length=MAX_TEXT)]
    invoice_date: str | None = None
    invoice_period: Annotated[str | None, Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")] = None
    tariff_group: Text | None = None
    voltage_level: Text | None = None
    tariff_term: Text | None = None
    # The supplier's VKN/TCKN where the document prints it (optional): the canonical supplier id
    # of an invoice key when present (domain/suppliers.py).
    supplier_tax_id: Annotated[str | None, Field(pattern=r"^[0-9]{10,11}$")] = None

    @field_validator("invoice_date")
    @classmethod
    def _iso_date(cls, value: str | None) -> str | None:
        if value is not None:
            date.fromisoformat(value)  # ValueError → field-level error
            if len(value) != 10:
                raise ValueError("expected YYYY-MM-DD")
        return value


class Extraction(_Strict):
    """The numeric fields; a missing one equals ``{"value": null, "confidence": 0.0}``."""

    consumption_kwh: FieldValue = FieldValue()
    current_active_unit_price_tl_per_kwh: FieldValue = FieldValue()
    distribution_unit_price_tl_per_kwh: FieldValue = FieldValue()
    demand_qty: FieldValue = FieldValue()
    demand_unit_price_tl_per_unit: FieldValue = FieldValue()
    invoice_total_with_vat_tl: FieldValue = FieldValue()
    energy_total_tl: FieldValue = FieldValue()
    distribution_total_tl: FieldValue = FieldValue()
    btv_tl: FieldValue = FieldValue()
    vat_tl: FieldValue = FieldValue()
    yek_amount_tl: FieldValue = FieldValue()
    payable_tl: FieldValue = FieldValue()


class ExtractionRecord(_Strict):
    """One invoice as the extractor saw it (the input contract of the pipeline)."""

    schema_version: Literal[1]
    invoice: InvoiceMeta
    extraction: Extraction = Extraction()
    line_items: Annotated[list[LineItem], Field(max_length=MAX_LINE_ITEMS)] = []


@dataclass(frozen=True)
class ItemError:
    """Why one inbox item produced no usable record (becomes an EXTRACTION_FAILED incident)."""

    code: str
    field: str | None
    message: str


# Entries of an inbox day folder that are not an invoice file to read (``resources/inbox.py``
# decides which): each still becomes one failed item with its code, so invoices in = ok + failed
# holds for them too. A link is followed only to a regular file inside the inbox.
INBOX_ENTRY_ERRORS: dict[str, str] = {
    "hidden_file": "a hidden entry (its name starts with '.') is not read as an invoice",
    "directory": "a directory in a day folder is not an invoice file",
    "special_file": "a FIFO, socket or device is not an invoice file",
    "symlink_dangling": "a link whose target does not exist",
    "symlink_outside_inbox": "a link to a file outside the inbox is never followed",
    "unreadable_file": "the file cannot be read",
}


def inbox_entry_error(code: str, detail: str = "") -> ItemError:
    """The failure of an inbox entry that is not read (a code of ``INBOX_ENTRY_ERRORS``)."""
    message = INBOX_ENTRY_ERRORS[code]
    return ItemError(code, None, f"{message}: {detail}" if detail else message)


@dataclass(frozen=True)
class InboxItem:
    """One invoice's worth of inbox content: a record, or the error that stopped it."""

    source_file: str
    line_no: int | None
    raw_sha256: str
    record: ExtractionRecord | None
    error: ItemError | None
    # who issued it, from the supplier table (set by ``mark_duplicates``; None: folding only)
    supplier: Supplier | None = None

    @property
    def invoice_key(self) -> str:
        return invoice_key(self.record, self.raw_sha256, self.supplier)


def invoice_key(
    record: ExtractionRecord | None, raw_sha256: str, supplier: Supplier | None = None
) -> str:
    """``ettn``, else ``supplier_id|invoice_no|invoice_period``, else the sha256 of the raw bytes.

    ``supplier_id`` is the canonical id (``domain/suppliers.py``) of ``supplier``, or of the
    record's own name and tax id folded without a table when ``supplier`` is not given.
    """
    if record is not None:
        meta = record.invoice
        if meta.ettn:
            return meta.ettn
        if meta.invoice_no:
            who = supplier or NO_TABLE.resolve_one(meta.supplier, meta.supplier_tax_id)
            return f"{who.id}|{meta.invoice_no}|{meta.invoice_period or ''}"
    return raw_sha256


_PYDANTIC_CODES = {
    "finite_number": "non_finite_number",
    "missing": "missing_required_field",
    "extra_forbidden": "unknown_field",
    "string_too_long": "value_too_long",
    "too_long": "value_too_long",
    "literal_error": "unsupported_schema_version",
}


def _error_from_validation(exc: ValidationError) -> ItemError:
    first = exc.errors(include_url=False)[0]
    loc = ".".join(str(part) for part in first["loc"])
    kind = str(first["type"])
    code = _PYDANTIC_CODES.get(kind)
    if code is None:
        if loc.endswith("confidence") and kind in {"greater_than_equal", "less_than_equal"}:
            code = "confidence_out_of_range"
        elif loc == "invoice.invoice_date":
            code = "invalid_date"
        elif loc == "invoice.invoice_period":
            code = "invalid_period"
        elif kind.endswith("_type") or kind.endswith("_parsing"):
            code = "wrong_type"
        else:
            code = "schema_violation"
    more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return ItemError(code, loc or None, f"{first['msg']}{more}")


def _nul_field(obj: Any) -> str | None:
    """The dotted path of the first key or string holding U+0000 (no store can keep it: PostgreSQL
    text refuses it), "" for the root; None when there is none. Iterative: input may nest deeply."""
    stack: list[tuple[str, Any]] = [("", obj)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                return path
        elif isinstance(value, dict):
            for key, item in value.items():
                name = str(key).replace("\x00", "\\x00")
                child = f"{path}.{name}" if path else name
                if "\x00" in str(key):
                    return child
                stack.append((child, item))
        elif isinstance(value, list):
            stack.extend((f"{path}.{i}" if path else str(i), item) for i, item in enumerate(value))
    return None


def parse_record(obj: Any, *, may_hold_nul: bool = True) -> ExtractionRecord | ItemError:
    """Validate an already-decoded JSON value as an extraction record."""
    if not isinstance(obj, dict):
        return ItemError(
            "schema_violation", None, f"expected a JSON object, got {type(obj).__name__}"
        )
    nul = _nul_field(obj) if may_hold_nul else None
    if nul is not None:
        return ItemError("schema_violation", nul or None, "text holds a NUL character (U+0000)")
    try:
        return ExtractionRecord.model_validate(obj)
    except ValidationError as exc:
        return _error_from_validation(exc)


def parse_record_bytes(raw: bytes) -> ExtractionRecord | ItemError:
    """Decode (UTF-8, optional BOM) and validate one JSON record; NaN and Infinity are refused.

    A well-formed record is validated straight from its bytes (pydantic's own JSON parser, about
    twice as fast as ``json.loads`` + validation); anything that fails there, or could hold a
    NUL, takes the step-by-step path below, which names the precise error.
    """
    if b"\x00" not in raw and b"\\u0000" not in raw:
        try:
            return ExtractionRecord.model_validate_json(raw)
        except ValidationError:
            pass
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return ItemError("invalid_encoding", None, f"not UTF-8: {exc.reason} at byte {exc.start}")
    try:
        # NaN and Infinity decode to floats so that validation names the field that holds them.
        obj = json.loads(text)
    except ValueError as exc:
        return ItemError("invalid_json", None, str(exc)[:200])
    except RecursionError:
        return ItemError("invalid_json", None, "nesting too deep")
    # Walking the record for U+0000 costs ~0.1 ms; only text that spells one can hold one.
    return parse_record(obj, may_hold_nul="\x00" in text or "\\u0000" in text)


ContentKind = Literal["json", "jsonl", "pdf", "image", "xml", "zip", "html", "empty", "unknown"]
DOCUMENT_KINDS: tuple[str, ...] = (
    "pdf",
    "image",
    "xml",
    "zip",
    "html",
)  # read by a document reader


def sniff_kind(content: bytes) -> ContentKind:
    """What the bytes are, from their content (never the file name)."""
    head = content[:16]
    if not content.strip():
        return "empty"
    if head.startswith(b"%PDF-"):
        return "pdf"
    if (
        head.startswith(b"\x89PNG\r\n\x1a\n")
        or head.startswith(b"\xff\xd8\xff")
        or head[:6] in (b"GIF87a", b"GIF89a")
        or (head.startswith(b"RIFF") and content[8:12] == b"WEBP")
    ):
        return "image"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    stripped = content.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped.startswith(b"<"):
        opening = stripped[:2048].lower()
        if b"<html" in opening or b"<!doctype html" in opening:
            return "html"
        return "xml"
    if stripped.startswith(b"{") or stripped.startswith(b"["):
        lines = [line for line in stripped.splitlines() if line.strip()]
        if len(lines) > 1 and lines[0].strip().startswith(b"{"):
            try:
                json.loads(lines[0])
                return "jsonl"
            except (ValueError, RecursionError):
                return "json"
        return "json"
    return "unknown"


def source_name(name: str) -> str:
    """A file name as text any store can hold: bytes that were not UTF-8 (decoded by the OS layer
    to lone surrogates, e.g. a cp1254 "Ödeme.json") become ``\\xNN`` escapes, one per byte."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _sha(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def parse_inbox_content(source_file: str, content: bytes, max_bytes: int) -> list[InboxItem]:
    """Every invoice in one inbox file; PDFs and images are left to an extractor.

    A ``.jsonl`` file yields one item per non-empty line, each accounted for separately. Files of
    another kind yield one failed item (``empty_file``, ``file_too_large``, ``unsupported_type``);
    PDFs and images yield one failed item ``extractor_unavailable`` that an enabled extractor
    replaces before this point.
    """
    sha = _sha(content)

    def failed(code: str, message: str, line_no: int | None = None, digest: str = sha) -> InboxItem:
        return InboxItem(source_file, line_no, digest, None, ItemError(code, None, message))

    if len(content) > max_bytes:
        return [failed("file_too_large", f"{len(content)} bytes > limit {max_bytes}")]
    kind = sniff_kind(content)
    if kind == "empty":
        return [failed("empty_file", "the file is empty")]
    if kind in DOCUMENT_KINDS:
        return [failed("extractor_unavailable", f"{kind} needs a document extractor (disabled)")]
    if kind == "unknown":
        return [
            failed("unsupported_type", "content is neither JSON, XML, HTML, PDF, zip nor an image")
        ]
    if kind == "json" and source_file.lower().endswith(".jsonl"):
        kind = "jsonl"  # a broken first line must not swallow the other records of the file
    if kind == "json":
        return [_item(source_file, None, content)]
    with collector_paused():  # thousands of live records: see frames.items_to_frames
        return [
            _item(source_file, number, line)
            for number, line in enumerate(content.splitlines(), start=1)
            if line.strip()
        ]


def _item(source_file: str, line_no: int | None, raw: bytes) -> InboxItem:
    parsed = parse_record_bytes(raw)
    if isinstance(parsed, ItemError):
        return InboxItem(source_file, line_no, _sha(raw), None, parsed)
    return InboxItem(source_file, line_no, _sha(raw), parsed, None)


def mark_duplicates(
    items: Sequence[InboxItem],
    seen: set[str] | KeySet | None = None,
    suppliers: SupplierDirectory = NO_TABLE,
) -> list[InboxItem]:
    """Name every item's supplier and make its invoice key unique within a batch, losing nothing.

    Each record's supplier is resolved with the ``suppliers`` table (once per distinct name and
    tax id), so its invoice key holds the canonical supplier id.

    A second record with an invoice key already seen fails as ``duplicate_invoice`` and falls back
    to the sha256 of its bytes. Items whose bytes are identical (two copies of one broken file)
    get a key salted with their file and line, stable across reruns. Items must come in a stable
    order (file name, line) for determinism. ``seen`` carries the keys of earlier batches of the
    same day (it is updated); without it the batch stands alone.
    """
    seen = set() if seen is None else seen
    out: list[InboxItem] = []
    metas = [item.record.invoice if item.record is not None else None for item in items]
    who = suppliers.identify(
        [m.supplier if m else None for m in metas],
        [m.supplier_tax_id if m else None for m in metas],
    )
    named = [
        item if supplier is None else _with_supplier(item, supplier)
        for item, supplier in zip(items, who, strict=True)
    ]
    if isinstance(seen, KeySet):  # the batch's keys looked up at once
        seen.expect([item.invoice_key for item in named])
    for item in named:
        key = item.invoice_key
        if item.record is not None and key in seen:
            error = ItemError("duplicate_invoice", "invoice", f"invoice key {key!r} seen earlier")
            item = InboxItem(item.source_file, item.line_no, item.raw_sha256, None, error)
            key = item.invoice_key
        if key in seen:
            salted = _sha(f"{item.raw_sha256}|{item.source_file}|{item.line_no}".encode())
            item = replace(item, raw_sha256=salted)
            key = item.invoice_key
        seen.add(key)
        out.append(item)
    return out


def _with_supplier(item: InboxItem, supplier: Supplier) -> InboxItem:
    """``replace(item, supplier=supplier)`` at a fifth of its cost (it runs once per invoice):
    the frozen item's fields are copied as they are, whichever fields it has."""
    copy = object.__new__(InboxItem)
    copy.__dict__.update(item.__dict__, supplier=supplier)
    return copy
