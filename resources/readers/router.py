"""The offline side of the router: one document's bytes → its records, by sniffed content.

What it is for: ``read_offline`` picks the reader for a document's kind (sniffed, never the file
name) and returns a ``Reading``: the method that read it (``ubl``, ``html``, ``text``, ``ocr``)
and one result per invoice found, each a SPEC §4.1 record dict or a ``ReaderError``. A UBL-TR XML
gives its invoices; a zip one result per XML member; an e-Fatura HTML its tables; a PDF its text
layer (bundles split) checked against its QR codes, and its image-only pages through OCR; an image
goes through OCR and its QR code. OCR readings are slow (10–16 s a page), so the caller may pass
an ``OcrCache`` that keeps them by the file's sha256 (the extraction cache with its own model key).

Not for: modes and the OpenAI fallback (``resources/extractor.py`` holds the router that combines
offline and OpenAI readings), the store, or Dagster. Readers are imported when first needed, so
loading the code location does not load pypdfium2, OpenCV or onnxruntime.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from invoice_assets.domain.records import sniff_kind
from resources.readers.errors import ReaderError
from resources.readers.ubl import XmlLimits

Result = dict[str, Any] | ReaderError
OCR_VERSION = "ocr-v1"  # bump when the OCR path's reading changes: cached readings then miss


@dataclass(frozen=True)
class ReadLimits:
    """Bounds on one document (the separate document size limit of SPEC §8 and a page limit)."""

    max_document_bytes: int = 50 * 1024 * 1024
    max_pages: int = 500
    max_image_pixels: int = 40_000_000
    xml: XmlLimits = field(default_factory=XmlLimits)


@dataclass
class Reading:
    """What the offline readers made of one document."""

    method: str  # ubl | html | text | ocr
    results: list[Result]
    seconds: float = 0.0
    labels: list[str | None] = field(default_factory=list)  # zip member of each result


class OcrCache(Protocol):
    """Where OCR readings are kept by the document's sha256 (records as dicts)."""

    def get(self, sha256: str) -> list[dict[str, Any]] | None: ...

    def put(self, sha256: str, records: list[dict[str, Any]]) -> None: ...


def _error(exc: ReaderError) -> Reading:
    return Reading("text", [exc])


def read_offline(
    content: bytes,
    *,
    limits: ReadLimits | None = None,
    ocr: bool = True,
    cache: OcrCache | None = None,
) -> Reading:
    """The offline reading of one document; never raises for content (errors are results)."""
    limits = limits or ReadLimits()
    started = time.perf_counter()
    kind = sniff_kind(content)
    reader: Callable[[], Reading]
    if len(content) > limits.max_document_bytes:
        error = ReaderError(
            "file_too_large", f"{len(content)} bytes > document limit {limits.max_document_bytes}"
        )
        reading = Reading(_method_of(kind), [error])
    else:
        readers: dict[str, Callable[[], Reading]] = {
            "xml": lambda: _read_xml(content, limits),
            "zip": lambda: _read_zip(content, limits),
            "html": lambda: _read_html(content),
            "pdf": lambda: _read_pdf(content, limits, ocr, cache),
            "image": lambda: _read_image(content, limits, ocr, cache),
        }
        reader = readers.get(kind, lambda: Reading("text", [_unsupported(kind)]))
        try:
            reading = reader()
        except ReaderError as exc:
            reading = Reading(_method_of(kind), [exc])
        except (MemoryError, RecursionError) as exc:
            reading = Reading(_method_of(kind), [ReaderError("reader_error", type(exc).__name__)])
        except Exception as exc:  # a reader bug must fail one document, not the step
            reading = Reading(
                _method_of(kind), [ReaderError("reader_error", f"{type(exc).__name__}: {exc}")]
            )
    if not reading.labels:
        reading.labels = [None] * len(reading.results)
    reading.seconds = time.perf_counter() - started
    return reading


def _method_of(kind: str) -> str:
    return {"xml": "ubl", "zip": "ubl", "html": "html", "image": "ocr"}.get(kind, "text")


def _unsupported(kind: str) -> ReaderError:
    return ReaderError("unsupported_type", f"content is {kind}: no offline reader for it")


def _read_xml(content: bytes, limits: ReadLimits) -> Reading:
    from resources.readers.ubl import read_ubl

    return Reading("ubl", list(read_ubl(content, limits.xml)))


def _read_zip(content: bytes, limits: ReadLimits) -> Reading:
    from resources.readers.ubl import read_zip

    results: list[Result] = []
    labels: list[str | None] = []
    for member, outcome in read_zip(content, limits.xml):
        found = [outcome] if isinstance(outcome, ReaderError) else outcome
        results.extend(found)
        labels.extend([member] * len(found))
    return Reading("ubl", results, labels=labels)


def _read_html(content: bytes) -> Reading:
    try:
        from resources.readers.html import read_html
    except ImportError:
        raise ReaderError("extractor_unavailable", "the HTML reader is not installed") from None
    return Reading("html", list(read_html(content)))


def _qr_images(images: list[Any]) -> list[Any]:
    """Images shaped like a QR code (roughly square): logos and page scans are skipped."""
    out = []
    for image in images:
        height, width = image.shape[:2]
        if min(height, width) >= 21 and 0.8 <= width / max(height, 1) <= 1.25:
            out.append(image)
    return out


def _ground_with_qr(records: list[dict[str, Any]], payloads: list[dict[str, str]]) -> None:
    from resources.readers.qr import apply_payload, matches

    for payload in payloads:
        if len(records) == 1:
            if matches(records[0], payload):
                apply_payload(records[0], payload)
            continue
        ettn, number = (payload.get("ettn") or "").lower(), (payload.get("no") or "").upper()
        for record in records:
            meta = record.get("invoice", {})
            if (ettn and str(meta.get("ettn") or "").lower() == ettn) or (
                number and str(meta.get("invoice_no") or "").upper() == number
            ):
                apply_payload(record, payload)
                break


def _page_payloads(doc: Any, pages: range) -> list[dict[str, str]]:
    from resources.readers.qr import find_payload

    payloads: list[dict[str, str]] = []
    for index in pages:
        try:
            images = doc.images(index)
        except ReaderError:
            continue
        payload = find_payload(_qr_images(images))
        if payload and payload not in payloads:
            payloads.append(payload)
    return payloads


def _ocr_records(texts: list[str]) -> list[dict[str, Any]] | ReaderError:
    from resources.readers.text_invoice import read_invoice_text

    try:
        return list(read_invoice_text(texts, method="ocr"))
    except ReaderError as exc:
        return exc


def _read_pdf(content: bytes, limits: ReadLimits, ocr: bool, cache: OcrCache | None) -> Reading:
    try:
        from resources.readers.pdf import open_pdf
        from resources.readers.text_invoice import read_invoice_text
    except ImportError:
        raise ReaderError("extractor_unavailable", "the PDF reader is not installed") from None
    sha = hashlib.sha256(content).hexdigest()
    try:
        opened = open_pdf(content, max_pages=limits.max_pages)
    except ReaderError as exc:
        # PDFium refuses to load a document without pages: name it for what it is
        if exc.code == "pdf_corrupt" and _zero_pages(content):
            raise ReaderError("pdf_empty", "the PDF has no pages") from None
        raise
    with opened as doc:
        texts = [doc.text(i) for i in range(doc.page_count)]
        image_pages = [i for i, text in enumerate(texts) if not text.strip()]
        records: list[dict[str, Any]] = []
        error: ReaderError | None = None
        method = "text"
        if len(image_pages) < len(texts):
            try:
                records = list(read_invoice_text(texts, method="text"))
            except ReaderError as exc:
                error = exc
        payloads = _page_payloads(doc, range(len(texts)))
        _ground_with_qr(records, payloads)
        if image_pages:
            cached = cache.get(sha) if cache is not None else None
            if cached:
                return Reading("ocr" if not records else "text", [*records, *cached])
            if not ocr and not records:
                raise ReaderError(
                    "ocr_disabled",
                    f"{len(image_pages)} of {len(texts)} pages have no text layer and OCR is "
                    "turned off (INVOICE_OCR=off)",
                )
            if ocr:
                from resources.readers.ocr import ocr_text
                from resources.readers.qr import find_payload

                ocr_texts = [""] * len(texts)
                for index in image_pages:
                    images = doc.images(index, max_pixels=limits.max_image_pixels)
                    if not images:  # a blank page, or only images too large to decode
                        oversized = doc.largest_image_pixels(index, above=limits.max_image_pixels)
                        if oversized and not records:
                            raise ReaderError(
                                "image_too_large",
                                f"page {index + 1}: an image of {oversized} pixels > limit "
                                f"{limits.max_image_pixels} (a decompression bomb?)",
                            )
                        continue
                    biggest = max(images, key=lambda a: a.shape[0] * a.shape[1])
                    ocr_texts[index] = ocr_text(biggest)
                    payload = find_payload([biggest])  # the QR inside a screenshot
                    if payload and payload not in payloads:
                        payloads.append(payload)
                outcome = _ocr_records(ocr_texts)
                if isinstance(outcome, list):
                    _ground_with_qr(outcome, payloads)
                    if cache is not None:
                        cache.put(sha, outcome)
                    if not records:
                        method = "ocr"
                    records.extend(outcome)
                elif not records:
                    error = outcome
        if not records:
            raise error or ReaderError("no_invoice_found", "no invoice in the document")
    return Reading(method, list(records))


def _zero_pages(content: bytes) -> bool:
    import re

    from resources.openai_documents import has_page_object

    return bool(re.search(rb"/Count\s*0\b", content)) and not has_page_object(content)


def _read_image(content: bytes, limits: ReadLimits, ocr: bool, cache: OcrCache | None) -> Reading:
    from resources.readers.ocr import image_from_bytes, ocr_text

    sha = hashlib.sha256(content).hexdigest()
    image = image_from_bytes(content, limits.max_image_pixels)
    cached = cache.get(sha) if cache is not None else None
    if cached:
        return Reading("ocr", list(cached))
    if not ocr:
        raise ReaderError(
            "ocr_disabled", "an image needs OCR, which is turned off (INVOICE_OCR=off)"
        )
    text = ocr_text(image)
    outcome = _ocr_records([text])
    if isinstance(outcome, ReaderError):
        raise outcome
    from resources.readers.qr import find_payload

    payload = find_payload([image])
    if payload:
        _ground_with_qr(outcome, [payload])
    if cache is not None:
        cache.put(sha, outcome)
    return Reading("ocr", list[Result](outcome))
