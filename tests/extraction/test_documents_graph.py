"""A day of real-looking documents and hostile files through the asset graph, on both backends.

Text PDF with a QR code, a 5-invoice bundle, an image-only PDF (OCR), a UBL-TR XML, a zip of XML
with a hostile member, an e-Fatura HTML, and hostile files: every file ends as records or one
clear error_code, every key field within 0.5 %, invoices in = ok + failed, the rest of the graph
runs, and a rerun reads the scan from the OCR cache.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from resources.readers.ocr import OCR_MODEL
from resources.store import schema as s
from tests.assets.helpers import materialize_day, store_for
from tests.documents.hostile import (
    corrupt_pdf,
    encrypted_pdf,
    huge_image_pdf,
    many_pages_pdf,
    zero_page_pdf,
)
from tests.documents.html import make_invoice_html
from tests.documents.pdf import make_bundle_pdf, make_invoice_pdf
from tests.documents.spec import InvoiceSpec, monthly_bundle
from tests.extraction.pdf_docs import bomb_png, qr_png
from tests.extraction.ubl_docs import UblSpec, make_ubl, make_zip, xml_bomb, zip_bomb

DAY = "2025-12-08"
KEYS = ("consumption_kwh", "current_active_unit_price_tl_per_kwh", "invoice_total_with_vat_tl")


def spec_payload(spec: InvoiceSpec) -> str:
    return json.dumps(
        {
            "vkntckn": spec.supplier_tax_id,
            "ETTN": spec.ettn,
            "no": spec.invoice_no,
            "paraBirimi": "TRY",
            "vergidahil": f"{spec.total:.2f}",
            "odenecek": f"{spec.payable:.2f}",
        }
    )


def _spec(n: int, **changes: object) -> InvoiceSpec:
    return InvoiceSpec(
        invoice_no=f"DOC2025{n:09d}", ettn=f"00000000-0000-4000-8000-{n:012d}"
    ).with_(**changes)


def _day(inbox: Path) -> dict[str, dict[str, object]]:
    """Write the day's files; file → expected outcome per invoice (a spec's figures or a code)."""
    folder = inbox / DAY
    folder.mkdir(parents=True)
    text = _spec(1, round_payable_to=5)
    scan = _spec(3)
    html = _spec(6)
    bundle = monthly_bundle(5)
    xml = UblSpec(invoice_no="XML2025000000001", rounding="0.40")
    zipped = [UblSpec(invoice_no=f"XML202500000001{n}") for n in range(2)]
    files: dict[str, tuple[bytes, list[object]]] = {
        "a-invoice.pdf": (make_invoice_pdf(text, qr_png=qr_png(spec_payload(text))), [text]),
        "b-bundle.pdf": (make_bundle_pdf(bundle), list(bundle)),
        "c-scan.pdf": (make_invoice_pdf(scan, image_only=True), [scan]),
        "d-efatura.xml": (make_ubl(xml), [xml]),
        "e-archive.zip": (
            make_zip(
                {"1.xml": make_ubl(zipped[0]), "2.xml": make_ubl(zipped[1]), "3.xml": xml_bomb()}
            ),
            [*zipped, "xml_forbidden"],
        ),
        "f-viewer.html": (make_invoice_html(html), [html]),
        "g-encrypted.pdf": (encrypted_pdf(), ["pdf_encrypted"]),
        "h-corrupt.pdf": (corrupt_pdf(), ["pdf_corrupt"]),
        "i-empty.pdf": (zero_page_pdf(), ["pdf_empty"]),
        "j-bomb.xml": (xml_bomb(), ["xml_forbidden"]),
        "k-bomb.zip": (zip_bomb(), ["zip_too_large"]),
        "l-bomb.png": (bomb_png(), ["image_too_large"]),
        "m-pages.pdf": (many_pages_pdf(), ["pdf_too_many_pages"]),
        "n-bomb-image.pdf": (huge_image_pdf(), ["image_too_large"]),
    }
    for name, (content, _) in files.items():
        (folder / name).write_bytes(content)
    return {name: {"expected": expected} for name, (_, expected) in files.items()}


def _figures(expected: object) -> dict[str, Decimal]:
    if isinstance(expected, UblSpec):
        energy = sum(expected.energy_amounts(), Decimal(0))
        return {
            "consumption_kwh": expected.kwh(),
            "current_active_unit_price_tl_per_kwh": energy / expected.kwh(),
            "invoice_total_with_vat_tl": expected.total(),
            "payable_tl": expected.payable(),
        }
    assert isinstance(expected, InvoiceSpec)
    return {
        k: Decimal(str(v)) for k, v in expected.expected().items() if k in (*KEYS, "payable_tl")
    }


def _no(expected: object) -> str:
    return expected.invoice_no  # type: ignore[attr-defined,no-any-return]


def test_a_day_of_documents_and_hostile_files_through_the_graph(env, apply_env):
    apply_env(env)
    files = _day(Path(env["INVOICE_HOME"]) / "inbox")

    result = materialize_day(env, DAY)

    assert result.success
    store = store_for(env)
    rows = store.read_stage("extractions", [DAY]).sort_values(["source_file", "line_no"])
    expected_rows = sum(len(f["expected"]) for f in files.values())  # type: ignore[arg-type]
    assert len(rows) == expected_rows
    ok, failed = rows["status"].eq("ok"), rows["status"].eq("failed")
    assert int(ok.sum()) + int(failed.sum()) == expected_rows  # invoices in = ok + failed
    metadata = result.get_asset_materialization_events()[0].materialization.metadata
    assert metadata["invoices_received"].value == expected_rows
    assert metadata["invoices_ok"].value == int(ok.sum())
    for name, info in files.items():
        got = rows[rows["source_file"] == name]
        expected = info["expected"]
        assert isinstance(expected, list)
        assert len(got) == len(expected), name
        codes = [e for e in expected if isinstance(e, str)]
        assert sorted(got.loc[got["status"] == "failed", "error_code"]) == sorted(codes), name
        readings = [e for e in expected if not isinstance(e, str)]
        found = got[got["status"] == "ok"].set_index("invoice_no")
        assert sorted(found.index) == sorted(_no(e) for e in readings), name
        for spec in readings:
            row = found.loc[_no(spec)]
            for field, value in _figures(spec).items():
                column = "payable_tl" if field == "payable_tl" else field
                if column not in row.index:
                    continue
                assert abs(Decimal(str(row[column])) - value) <= abs(value) * Decimal("0.005"), (
                    name,
                    field,
                    row[column],
                    value,
                )
    # downstream: every invoice, read or failed, reached validation
    validated = store.read_stage("validations", [DAY])
    assert len(validated) == expected_rows

    again = materialize_day(env, DAY)  # the scan now comes from the OCR cache

    assert again.success
    with store.engine.connect() as conn:
        cached = conn.execute(
            sa.select(sa.func.count()).where(s.extraction_cache.c.model == OCR_MODEL)
        ).scalar_one()
    assert cached >= 1
    rerun = store.read_stage("extractions", [DAY]).sort_values(["source_file", "line_no"])
    pd.testing.assert_series_equal(
        rerun["status"].reset_index(drop=True), rows["status"].reset_index(drop=True)
    )
