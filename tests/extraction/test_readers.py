"""The offline readers behind the router: UBL-TR XML and zips, QR codes, hostile documents, OCR."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from resources.readers.errors import ReaderError
from resources.readers.router import ReadLimits, read_offline
from resources.readers.ubl import XmlLimits, read_ubl, read_zip
from tests.documents.hostile import huge_image_pdf
from tests.extraction.pdf_docs import (
    bomb_png,
    corrupt_pdf,
    invoice_lines,
    make_pdf,
    page_image,
    qr_payload,
    qr_png,
    zero_page_pdf,
)
from tests.extraction.ubl_docs import (
    UblSpec,
    make_ubl,
    make_zip,
    xml_bomb,
    xml_external_entity,
    zip_bomb,
)

LOW = 0.6  # config/thresholds.yaml Validation.LOW_CONFIDENCE (tests may name it)
TIERED = [
    ("Aktif Enerji Bedeli", "840", "2.500000"),
    ("Yüksek Kademe", "5312.400", "3.100000"),
    ("Ek Tüketim", "-312.448", "3.100000"),
]


def value(record: dict[str, Any], name: str) -> float | None:
    return record["extraction"][name]["value"]


def confidence(record: dict[str, Any], name: str) -> float:
    return record["extraction"][name]["confidence"]


def close(a: float | None, b: Decimal) -> bool:
    """Within 0.5 % (the issue's bar for every key field)."""
    return a is not None and abs(Decimal(str(a)) - b) <= abs(b) * Decimal("0.005")


def assert_reads(record: dict[str, Any], spec: UblSpec) -> None:
    energy = sum(spec.energy_amounts(), Decimal(0))
    assert record["invoice"]["invoice_no"] == spec.invoice_no
    assert close(value(record, "consumption_kwh"), spec.kwh())
    assert close(value(record, "current_active_unit_price_tl_per_kwh"), energy / spec.kwh())
    assert close(value(record, "invoice_total_with_vat_tl"), spec.total())
    assert close(value(record, "payable_tl"), spec.payable())


# -- UBL-TR XML ------------------------------------------------------------------------------------


def test_a_ubl_invoice_is_read_exactly_with_near_certain_confidence():
    spec = UblSpec(rounding="0.35")

    [record] = read_ubl(make_ubl(spec))

    assert record["invoice"]["ettn"] == spec.ettn
    assert record["invoice"]["invoice_period"] == "2025-11"
    assert record["invoice"]["invoice_date"] == "2025-12-05"
    assert record["invoice"]["supplier_tax_id"] == spec.vkn
    assert value(record, "consumption_kwh") == float(spec.kwh())
    assert value(record, "current_active_unit_price_tl_per_kwh") == 3.123456
    assert value(record, "invoice_total_with_vat_tl") == float(spec.total())
    assert value(record, "payable_tl") == float(spec.payable()) != float(spec.total())
    assert value(record, "vat_tl") == float(spec.vat())
    assert value(record, "btv_tl") == float(spec.btv())
    assert value(record, "distribution_total_tl") == float(spec.distribution_amount())
    assert min(confidence(record, f) for f in ("consumption_kwh", "payable_tl")) >= 0.95
    assert "cbc:TaxInclusiveAmount" in record["extraction"]["invoice_total_with_vat_tl"]["evidence"]


def test_tiered_and_negative_energy_lines_sum_and_the_price_is_derived():
    spec = UblSpec(energy=TIERED)

    [record] = read_ubl(make_ubl(spec))

    assert_reads(record, spec)
    assert value(record, "consumption_kwh") == pytest.approx(float(spec.kwh()))
    price = record["extraction"]["current_active_unit_price_tl_per_kwh"]
    assert LOW <= price["confidence"] < 0.95 and "÷" in price["evidence"]
    assert len(record["line_items"]) == 4


def test_a_ubl_whose_lines_do_not_add_up_says_so_below_low_confidence():
    xml = make_ubl(UblSpec()).replace(
        b'<cbc:PriceAmount currencyID="TRY">3.123456', b'<cbc:PriceAmount currencyID="TRY">3.923456'
    )

    [record] = read_ubl(xml)

    assert confidence(record, "consumption_kwh") < LOW
    assert "check failed" in record["extraction"]["consumption_kwh"]["evidence"]


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (xml_bomb(), "xml_forbidden"),
        (xml_external_entity(), "xml_forbidden"),
        (b"<Invoice><ID>1</ID>", "xml_invalid"),
        (b"<a>" * 500 + b"</a>" * 500, "xml_too_deep"),
        (b"<ApplicationResponse><ID>1</ID></ApplicationResponse>", "not_an_invoice"),
    ],
)
def test_hostile_or_foreign_xml_is_a_clear_error(content, code):
    with pytest.raises(ReaderError) as caught:
        read_ubl(content)
    assert caught.value.code == code


def test_an_xml_over_the_size_limit_is_refused_before_parsing():
    with pytest.raises(ReaderError) as caught:
        read_ubl(make_ubl(), XmlLimits(max_bytes=1000))
    assert caught.value.code == "xml_too_large"


def test_a_zip_gives_every_member_a_record_or_an_error():
    specs = [UblSpec(invoice_no=f"ABC202500000000{n}") for n in range(2)]
    archive = make_zip(
        {
            "a.xml": make_ubl(specs[0]),
            "b.xml": make_ubl(specs[1]),
            "bomb.xml": xml_bomb(),
            "view.xslt": b"<xsl:stylesheet/>",
            "readme.txt": b"not an invoice",
        }
    )

    members = read_zip(archive)

    assert [name for name, _ in members] == ["a.xml", "b.xml", "bomb.xml"]
    assert [r[0]["invoice"]["invoice_no"] for _, r in members[:2]] == [  # type: ignore[index]
        s.invoice_no for s in specs
    ]
    assert isinstance(members[2][1], ReaderError) and members[2][1].code == "xml_forbidden"


def test_a_zip_bomb_and_a_zip_of_too_many_members_are_refused():
    with pytest.raises(ReaderError) as bomb:
        read_zip(zip_bomb())
    assert bomb.value.code == "zip_too_large"
    many = make_zip({f"{n}.xml": b"<x/>" for n in range(12)})
    with pytest.raises(ReaderError) as crowded:
        read_zip(many, XmlLimits(max_members=10))
    assert crowded.value.code == "zip_too_large"


# -- PDFs: text layer, bundles, QR -----------------------------------------------------------------


def test_a_text_pdf_is_read_and_its_qr_code_grounds_the_total():
    spec = UblSpec(energy=TIERED, rounding="0.35")

    reading = read_offline(make_pdf([spec]))

    assert reading.method == "text"
    [record] = reading.results
    assert isinstance(record, dict)
    assert_reads(record, spec)
    total = record["extraction"]["invoice_total_with_vat_tl"]
    assert total["confidence"] >= 0.99 and "QR vergidahil" in total["evidence"]
    assert total["page"] == 1


def test_a_qr_total_that_disagrees_corrects_the_value_and_sends_it_to_review(monkeypatch):
    spec = UblSpec()
    wrong = qr_payload(spec, vergidahil="99999.99")
    monkeypatch.setattr("tests.extraction.pdf_docs.qr_payload", lambda s: wrong)

    [record] = read_offline(make_pdf([spec])).results

    assert isinstance(record, dict)
    total = record["extraction"]["invoice_total_with_vat_tl"]
    assert total["value"] == 99999.99 and total["confidence"] < LOW
    assert "disagrees" in total["evidence"] and tr_or_plain(spec.total()) in total["evidence"]


def tr_or_plain(amount: Decimal) -> str:
    return f"{float(amount)}"


def test_a_bundle_gives_one_record_per_invoice():
    specs = [
        UblSpec(
            invoice_no=f"ABC20250000000{m:02d}",
            period=(f"2025-{m:02d}-01", f"2025-{m:02d}-28"),
            energy=[("Aktif Enerji Bedeli", f"{1000 + m * 37}.125", "3.123456")],
        )
        for m in range(1, 6)
    ]

    reading = read_offline(make_pdf(specs))

    assert [r["invoice"]["invoice_no"] for r in reading.results] == [  # type: ignore[index]
        s.invoice_no for s in specs
    ]
    for record, spec in zip(reading.results, specs, strict=True):
        assert isinstance(record, dict)
        assert_reads(record, spec)
        assert record["invoice"]["invoice_period"] == spec.period[0][:7]


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda: make_pdf([UblSpec()], password="secret"), "pdf_encrypted"),
        (corrupt_pdf, "pdf_corrupt"),
        (zero_page_pdf, "pdf_empty"),
        (bomb_png, "image_too_large"),
        (huge_image_pdf, "image_too_large"),
        (
            lambda: make_pdf([UblSpec(invoice_no=f"ABC20250000000{n:02d}") for n in range(4)]),
            "pdf_too_many_pages",
        ),
        (lambda: b"%PDF-1.4\n" + b"x" * 5000, "file_too_large"),
    ],
)
def test_hostile_documents_are_one_clear_error_code(make, code):
    limits = ReadLimits(
        max_pages=3, max_document_bytes=4096 if code == "file_too_large" else 1 << 26
    )

    reading = read_offline(make(), limits=limits)

    [error] = reading.results
    assert isinstance(error, ReaderError) and error.code == code


def test_without_ocr_an_image_only_pdf_says_ocr_is_off():
    reading = read_offline(make_pdf([UblSpec()], image_only=True), ocr=False)

    [error] = reading.results
    assert isinstance(error, ReaderError) and error.code == "ocr_disabled"


# -- OCR (slow: ~4 s an image on 2 cores, so only two images) -----------------------------------


class DictCache:
    def __init__(self) -> None:
        self.data: dict[str, list[dict[str, Any]]] = {}
        self.gets = 0

    def get(self, sha256: str) -> list[dict[str, Any]] | None:
        self.gets += 1
        return self.data.get(sha256)

    def put(self, sha256: str, records: list[dict[str, Any]]) -> None:
        self.data[sha256] = json.loads(json.dumps(records))


def test_an_image_only_pdf_is_read_through_ocr_once_then_from_the_cache():
    spec = UblSpec(rounding="0.35")
    pdf = make_pdf([spec], image_only=True)
    cache = DictCache()

    first = read_offline(pdf, cache=cache)

    assert first.method == "ocr"
    [record] = first.results
    assert isinstance(record, dict)
    assert_reads(record, spec)
    assert "QR vergidahil" in record["extraction"]["invoice_total_with_vat_tl"]["evidence"]
    second = read_offline(pdf, cache=cache)
    assert second.results == [cache.data[next(iter(cache.data))][0]]
    assert second.seconds < first.seconds / 5


def test_a_png_screenshot_is_read_through_ocr():
    spec = UblSpec(invoice_no="XYZ2025000000777")
    png = page_image(invoice_lines(spec), qr_png(qr_payload(spec)))

    reading = read_offline(png)

    assert reading.method == "ocr"
    [record] = reading.results
    assert isinstance(record, dict)
    assert_reads(record, spec)
