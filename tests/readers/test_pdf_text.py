"""Generated text-layer PDFs in every form of the facts file are read exactly (within 0.5 %)."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from resources.readers.pdf import open_pdf, read_pdf_text
from tests.documents.pdf import make_bundle_pdf, make_invoice_pdf
from tests.documents.spec import InvoiceSpec, Line, monthly_bundle
from tests.readers.expect import LOW, assert_reads

TIERED = (
    Line("Enerji Tük.Bed.-Düşük", D("840"), D("2.512345"), 0, 6),
    Line("Yüksek Kademe", D("5312.4"), D("3.123456"), 1, 6),
)
NEGATIVE = (
    Line("AKTİF ENERJİ BEDELİ", D("123456.789"), D("3.123456"), 3, 6),
    Line("Ek Tüketim", D("-3120.448"), D("4.396"), 3, 6),
)
VARIANTS = {
    "single line": InvoiceSpec(),
    "two tiers, qty KWH price amount, payable to 5 TL": InvoiceSpec(
        energy=TIERED, layout="unit", round_payable_to=5
    ),
    "negative correction line, whole-TL payable": InvoiceSpec(
        energy=NEGATIVE, round_payable_to=1, period_form="name", date_form="dashes"
    ),
    "qty on the next line": InvoiceSpec(layout="next_line", round_payable_to=1),
    "mixed number styles, ambiguous d.ddd settled by arithmetic": InvoiceSpec(
        energy=(Line("Tek Zamanlı", D("148.206"), D("2.912345"), 3, 6),),
        distribution=Line("Dağıtım Bedeli", D("100000"), D("0.9"), 0, 1),
        styles={
            "energy_qty": "dot",
            "energy_price": "dot",
            "energy_amount": "tr_plain",
            "distribution_amount": "dot",
            "total": "dot",
            "payable": "tr_plain",
            "vat": "tr_plain",
        },
        round_payable_to=1,
    ),
    "separate VAT base and VAT lines, two pages, period as a date range": InvoiceSpec(
        vat_form="separate",
        pages=2,
        period_form="range",
        date_form="spaced",
        total_label="Vergiler Dahil Toplam Tutar",
        payable_label="TOPLAM ÖDENECEK TUTAR",
    ),
    "letter-spaced billing lines": InvoiceSpec(energy=TIERED, letter_spaced=True),
    "fake-bold totals": InvoiceSpec(doubled_totals=True, round_payable_to=5),
    "no meter block, no tariff, no supplier VKN, 5 % BTV": InvoiceSpec(
        meter_rows=False,
        tariff=None,
        supplier_tax_id=None,
        btv_rate=D("0.05"),
        btv_label="BTV",
        energy=(Line("Enerji Bedeli SKTT", D("2500"), D("2.75"), 0, 2),),
    ),
    "VAT per billing line, amounts with TL, totals in a summary box": InvoiceSpec(
        energy=TIERED, vat_columns=True, summary_box=True, round_payable_to=1
    ),
    "ticarethane AG, agricultural-rate 10 % VAT, dashed date": InvoiceSpec(
        tariff=("Ticarethane", "AG", "Tek Terimli"), vat_rate=D("0.10"), date_form="dashes"
    ),
}


@pytest.mark.parametrize("name", list(VARIANTS))
def test_every_generated_form_is_read_exactly(name: str) -> None:
    spec = VARIANTS[name]
    records, image_pages = read_pdf_text(make_invoice_pdf(spec), max_pages=50, low_confidence=LOW)
    assert image_pages == []
    assert len(records) == 1
    assert_reads(records[0], spec)


def test_tariff_labels_are_normalised_codes() -> None:
    records, _ = read_pdf_text(make_invoice_pdf(InvoiceSpec()), max_pages=5, low_confidence=LOW)
    meta = records[0]["invoice"]
    assert (meta["tariff_group"], meta["voltage_level"], meta["tariff_term"]) == (
        "sanayi",
        "OG",
        "tek_terim",
    )


def test_meter_indexes_bands_and_statistics_are_not_the_billed_kwh() -> None:
    spec = InvoiceSpec(energy=TIERED)
    records, _ = read_pdf_text(make_invoice_pdf(spec), max_pages=5, low_confidence=LOW)
    kwh = records[0]["extraction"]["consumption_kwh"]
    assert kwh["value"] == pytest.approx(6152.4)
    assert "Endeks" not in kwh["evidence"] and "T1" not in kwh["evidence"]
    labels = [item["label"] for item in records[0]["line_items"]]
    assert labels[:3] == ["Enerji Tük.Bed.-Düşük", "Yüksek Kademe", "Dağıtım Bedeli"]
    assert "tiered" in records[0]["extraction"]["current_active_unit_price_tl_per_kwh"]["evidence"]


def test_payable_and_total_are_both_kept_with_the_rounding_checked() -> None:
    spec = InvoiceSpec(round_payable_to=5)
    assert spec.payable != spec.total
    records, _ = read_pdf_text(make_invoice_pdf(spec), max_pages=5, low_confidence=LOW)
    fields = records[0]["extraction"]
    assert fields["payable_tl"]["value"] == float(spec.payable)
    assert fields["invoice_total_with_vat_tl"]["value"] == float(spec.total)
    assert "total + rounding = payable held" in fields["payable_tl"]["evidence"]


def test_a_five_invoice_bundle_gives_five_records_in_order() -> None:
    specs = monthly_bundle(5)
    records, image_pages = read_pdf_text(make_bundle_pdf(specs), max_pages=50, low_confidence=LOW)
    assert image_pages == []
    assert len(records) == 5
    for record, spec in zip(records, specs, strict=True):
        assert_reads(record, spec)
    pages = [r["extraction"]["payable_tl"]["page"] for r in records]
    assert pages == [2, 4, 6, 8, 10]


def test_image_only_pages_are_listed_for_ocr_and_give_no_records() -> None:
    content = make_invoice_pdf(InvoiceSpec(pages=2), image_only=True)
    records, image_pages = read_pdf_text(content, max_pages=5, low_confidence=LOW)
    assert (records, image_pages) == ([], [0, 1])
    with open_pdf(content, max_pages=5) as doc:
        assert doc.text(0) == ""
        (image,) = doc.images(0)
        assert image.ndim == 3 and image.shape[2] == 3 and 1200 <= image.shape[0] <= 1300


def test_a_mixed_file_reads_its_text_pages_and_lists_its_image_pages() -> None:
    text_pages = make_invoice_pdf(InvoiceSpec())
    image_pages = make_invoice_pdf(InvoiceSpec(invoice_no="ABC2025999999999"), image_only=True)
    import pypdfium2 as pdfium

    merged = pdfium.PdfDocument.new()
    for part in (text_pages, image_pages):
        source = pdfium.PdfDocument(part)
        merged.import_pages(source)
    import io

    buffer = io.BytesIO()
    merged.save(buffer)
    records, missing = read_pdf_text(buffer.getvalue(), max_pages=5, low_confidence=LOW)
    assert len(records) == 1 and missing == [1]
    assert_reads(records[0], InvoiceSpec())


def test_the_confidence_threshold_defaults_to_the_thresholds_file() -> None:
    records, _ = read_pdf_text(make_invoice_pdf(InvoiceSpec()), max_pages=5)
    assert_reads(records[0], InvoiceSpec())
