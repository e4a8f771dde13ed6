"""Benchmark — UBL-TR XML, OCR and a partition of 1,000 PDFs through the document path.

* XML invoices/s through the whole offline router (``read_offline``: sniff, hardened parse,
  record, checks) against the floor of parsing alone (``defusedxml`` with the same refusals);
  target ≥ 500 invoices/s;
* OCR seconds per page: an image-only page (a 900 × 1260 screenshot) read through rapidocr and
  the text parser, the engine already loaded (its ~0.7 s load is reported apart); target ≤ 20 s;
* one partition of 1,000 generated text-layer PDFs (``invoice_assets.demo.documents``) through
  the real asset graph on SQLite, end to end (all seven assets), and how many were read.

    .venv/bin/python -m bench.readers_docs [--quick] [--out result.json]
"""

from __future__ import annotations

import io
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import cli, median, metric, record

NAME = "readers_docs"
XML_TARGET_PER_S = 500.0
OCR_TARGET_S = 20.0
DAY = "2025-12-08"


def _xml_documents(count: int) -> list[bytes]:
    from invoice_assets.demo.documents import demo_documents, ubl_bytes

    docs = []
    day = 0
    while len(docs) < count:
        day += 1
        for doc in demo_documents(f"2025-12-{(day % 28) + 1:02d}", seed=day):
            docs.append(ubl_bytes(doc))
    return docs[:count]


def _parse_floor(docs: list[bytes]) -> float:
    import defusedxml.ElementTree as safe_et

    started = time.perf_counter()
    for content in docs:
        safe_et.parse(io.BytesIO(content), forbid_dtd=True, forbid_entities=True)
    return time.perf_counter() - started


def _through_router(docs: list[bytes]) -> tuple[float, int]:
    from resources.readers.router import read_offline

    started = time.perf_counter()
    read = 0
    for content in docs:
        reading = read_offline(content)
        read += sum(isinstance(r, dict) for r in reading.results)
    return time.perf_counter() - started, read


def _ocr(pages: int) -> tuple[list[float], float, int]:
    from resources.readers import ocr
    from resources.readers.router import read_offline
    from tests.documents.pdf import make_invoice_pdf
    from tests.documents.spec import InvoiceSpec

    started = time.perf_counter()
    ocr._get_engine()
    load = time.perf_counter() - started
    times, read = [], 0
    for n in range(pages):
        pdf = make_invoice_pdf(InvoiceSpec(invoice_no=f"OCR2025{n:09d}"), image_only=True)
        began = time.perf_counter()
        reading = read_offline(pdf)
        times.append(time.perf_counter() - began)
        read += sum(isinstance(r, dict) for r in reading.results)
    return times, load, read


def _partition(count: int) -> dict[str, Any]:
    import dagster as dg

    from invoice_assets.definitions import build_resources
    from invoice_assets.demo.documents import demo_documents, pdf_bytes
    from invoice_assets.services.settings import Settings
    from tests.assets.helpers import graph_assets

    with tempfile.TemporaryDirectory() as home:
        env = {"INVOICE_HOME": home, "INVOICE_EXTRACTION_MODE": "offline"}
        folder = Path(home) / "inbox" / DAY
        folder.mkdir(parents=True)
        written = 0
        day = 0
        while written < count:
            day += 1
            for doc in demo_documents(f"2025-11-{(day % 28) + 1:02d}", seed=1000 + day):
                if written == count:
                    break
                (folder / f"f-{written:05d}.pdf").write_bytes(pdf_bytes([doc.lines()]))
                written += 1
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            started = time.perf_counter()
            result = dg.materialize(
                graph_assets(),
                partition_key=DAY,
                resources=build_resources(env),
                instance=dg.DagsterInstance.ephemeral(),
            )
            seconds = time.perf_counter() - started
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        rows = Settings.from_env(env).store().read_stage("extractions", [DAY])
        return {
            "success": result.success,
            "seconds": seconds,
            "files": count,
            "invoices": len(rows),
            "ok": int(rows["status"].eq("ok").sum()),
        }


def run(quick: bool = False) -> dict[str, Any]:
    started = time.perf_counter()
    docs = _xml_documents(100 if quick else 1000)
    _through_router(docs[:20])  # warm imports
    floor, full = [], []
    read = 0
    for _ in range(3):
        floor.append(_parse_floor(docs))
        seconds, read = _through_router(docs)
        full.append(seconds)
    xml_per_s = len(docs) / median(full)
    floor_per_s = len(docs) / median(floor)
    ocr_times, ocr_load, ocr_read = _ocr(1 if quick else 3)
    partition = _partition(50 if quick else 1000)
    metrics = {
        "xml_parse_floor_invoices_per_s": metric(floor_per_s, "1/s", "higher"),
        "xml_router_invoices_per_s": metric(xml_per_s, "1/s", "higher", XML_TARGET_PER_S),
        "ocr_seconds_per_page": metric(median(ocr_times), "s", "lower", OCR_TARGET_S),
        "ocr_engine_load_s": metric(ocr_load, "s", "lower"),
        "partition_pdfs_per_s": metric(partition["files"] / partition["seconds"], "1/s", "higher"),
        "partition_seconds": metric(partition["seconds"], "s", "lower"),
        "partition_read_percent": metric(
            partition["ok"] / max(partition["invoices"], 1) * 100, "%", "higher", 100.0
        ),
    }
    details = {
        "xml_documents": len(docs),
        "xml_read": read,
        "xml_floor_s": [round(x, 3) for x in floor],
        "xml_router_s": [round(x, 3) for x in full],
        "ocr_page_s": [round(x, 2) for x in ocr_times],
        "ocr_read": ocr_read,
        "partition": partition,
        "cpus": os.cpu_count(),
    }
    notes = [
        "XML: median of 3 passes, one process; OCR: engine loaded first, a page each",
        "partition: 1,000 one-invoice text PDFs in one inbox day, all seven assets, SQLite, "
        "INVOICE_EXTRACTION_MODE=offline",
    ]
    return record(NAME, started, metrics, details, notes)


def main() -> None:
    cli(NAME, run)


if __name__ == "__main__":
    main()
