"""Benchmark — the PDF text-layer reader against its floor, per page.

~200 generated text-layer pages (``tests/documents``: single invoices in every form of the
facts file, letter-spaced pages, and 5-invoice bundles of 2 pages each) read three ways:

* floor: pypdfium2 alone (open, each page's text, close): what any text reader pays;
* ``read_pdf_text``: the whole text reader (cleaning, segments, arithmetic, records);
* the same with the thresholds file read on every call (``low_confidence`` not passed).

Median of 3 passes each, interleaved; every record is also checked against its spec (all key
fields within 0.5 %), so a fast wrong reader does not pass.

    .venv/bin/python -m bench.readers_text [--quick] [--out result.json]
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import pypdfium2 as pdfium

from bench.common import cli, median, metric, record
from resources.readers.pdf import read_pdf_text
from tests.documents.pdf import make_bundle_pdf, make_invoice_pdf
from tests.documents.spec import InvoiceSpec, Line, monthly_bundle

NAME = "readers_text"
TARGET_MS_PER_PAGE = 50.0
LOW = 0.6


def _specs(count: int) -> list[InvoiceSpec]:
    forms: list[dict[str, Any]] = [
        {},
        {"layout": "unit", "round_payable_to": 5},
        {"layout": "next_line", "round_payable_to": 1},
        {"letter_spaced": True},
        {"vat_form": "separate", "pages": 2, "period_form": "range"},
        {"meter_rows": False, "tariff": None},
    ]
    out = []
    for i in range(count):
        qty = Decimal("1000.125") + Decimal(i * 97)
        tiers = (
            Line("Enerji Tük.Bed.-Düşük", Decimal(840), Decimal("2.512345"), 0, 6),
            Line("Yüksek Kademe", qty, Decimal("3.123456"), 3, 6),
        )
        energy = tiers if i % 2 else (Line("Aktif Enerji Bedeli", qty, Decimal("3.1")),)
        out.append(
            InvoiceSpec(invoice_no=f"BNC2025{i:09d}", energy=energy, **forms[i % len(forms)])
        )
    return out


def _documents(quick: bool) -> list[tuple[bytes, list[InvoiceSpec]]]:
    singles = _specs(20 if quick else 100)
    docs = [(make_invoice_pdf(spec), [spec]) for spec in singles]
    for b in range(2 if quick else 9):
        bundle = [
            s.with_(invoice_no=f"BND2025{b:04d}{i:05d}") for i, s in enumerate(monthly_bundle(5))
        ]
        docs.append((make_bundle_pdf(bundle), bundle))
    return docs


def _floor(docs: list[tuple[bytes, list[InvoiceSpec]]]) -> float:
    started = time.perf_counter()
    for content, _ in docs:
        pdf = pdfium.PdfDocument(content)
        for index in range(len(pdf)):
            page = pdf[index]
            textpage = page.get_textpage()
            textpage.get_text_bounded()
            textpage.close()
            page.close()
        pdf.close()
    return time.perf_counter() - started


def _reader(docs: list[tuple[bytes, list[InvoiceSpec]]], low: float | None) -> float:
    started = time.perf_counter()
    for content, _ in docs:
        read_pdf_text(content, max_pages=200, low_confidence=low)
    return time.perf_counter() - started


def _correct(docs: list[tuple[bytes, list[InvoiceSpec]]]) -> tuple[int, int]:
    good = total = 0
    for content, specs in docs:
        records, _ = read_pdf_text(content, max_pages=200, low_confidence=LOW)
        for rec, spec in zip(records, specs, strict=False):
            for name, want in spec.expected().items():
                total += 1
                got = rec["extraction"].get(name, {}).get("value")
                good += got is not None and abs(got - want) <= max(0.005, abs(want) * 0.005)
        total += sum(len(spec.expected()) for spec in specs[len(records) :])
    return good, total


def run(quick: bool = False) -> dict[str, Any]:
    started = time.perf_counter()
    docs = _documents(quick)
    pages = sum(len(pdfium.PdfDocument(content)) for content, _ in docs)
    _reader(docs[:5], LOW)  # warm imports and caches
    floor, full, with_file = [], [], []
    for _ in range(3):
        floor.append(_floor(docs))
        full.append(_reader(docs, LOW))
        with_file.append(_reader(docs, None))
    good, total = _correct(docs)
    floor_ms = median(floor) * 1000 / pages
    full_ms = median(full) * 1000 / pages
    file_ms = median(with_file) * 1000 / pages
    metrics = {
        "pypdfium2_text_floor_ms_per_page": metric(floor_ms, "ms", "lower"),
        "read_pdf_text_ms_per_page": metric(full_ms, "ms", "lower", TARGET_MS_PER_PAGE),
        "read_pdf_text_thresholds_file_ms_per_page": metric(file_ms, "ms", "lower"),
        "reader_over_floor_ms_per_page": metric(full_ms - floor_ms, "ms", "lower"),
        "fields_within_half_percent": metric(good / total * 100, "%", "higher", 100.0),
    }
    details = {
        "documents": len(docs),
        "pages": pages,
        "invoices": sum(len(s) for _, s in docs),
        "floor_s": [round(x, 3) for x in floor],
        "reader_s": [round(x, 3) for x in full],
        "reader_thresholds_file_s": [round(x, 3) for x in with_file],
        "fields": {"good": good, "total": total},
    }
    notes = [f"median of 3 passes over {pages} pages in {len(docs)} files, one process"]
    return record(NAME, started, metrics, details, notes)


def main() -> None:
    cli(NAME, run)


if __name__ == "__main__":
    main()
