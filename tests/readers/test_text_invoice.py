"""The invoice text reader on plain text: checks become confidence, ids split bundles."""

from __future__ import annotations

import pytest

from invoice_assets.domain.records import MAX_EVIDENCE, ExtractionRecord, parse_record
from resources.readers.errors import ReaderError
from resources.readers.text_invoice import adjust_field, read_invoice_text
from tests.readers.expect import LOW

HEAD = """Örnek Elektrik Perakende Satış A.Ş.
Vergi No: 1234567890
SAYIN Deneme Ltd. Şti.
Fatura No: ABC2025000000001
"""
BODY = """Aktif Enerji Bedeli 1.000,000 kWh 2,500000 2.500,00
Dağıtım Bedeli 1.000,000 kWh 0,900000 900,00
BTV 25,00
KDV (Matrah 3.425,00) %20 685,00
Fatura Tutarı 4.110,00
Ödenecek Tutar 4.110,00
"""


def read(text: str, method: str = "text") -> dict:
    (record,) = read_invoice_text([text], method=method, low_confidence=LOW)
    assert isinstance(parse_record(record), ExtractionRecord)
    return record


def conf(record: dict, name: str) -> float:
    return record["extraction"][name]["confidence"]


def test_text_without_an_invoice_is_no_invoice_found() -> None:
    for pages in (["Sayın müşterimiz, kampanyamız hakkında bilgi"], ["", "  "]):
        with pytest.raises(ReaderError) as raised:
            read_invoice_text(pages, low_confidence=LOW)
        assert raised.value.code == "no_invoice_found"


def test_checked_fields_pass_low_confidence_and_say_which_checks_held() -> None:
    record = read(HEAD + BODY)
    for name in ("consumption_kwh", "invoice_total_with_vat_tl", "payable_tl", "vat_tl"):
        assert conf(record, name) >= LOW, name
    total = record["extraction"]["invoice_total_with_vat_tl"]
    assert total["value"] == 4110.0
    assert "base + VAT = total held" in total["evidence"]
    assert total["evidence"].startswith("Fatura Tutarı 4.110,00")
    assert record["invoice"]["supplier_tax_id"] == "1234567890"


def test_a_field_no_check_supports_stays_below_low_confidence() -> None:
    record = read(HEAD + "Aktif Enerji Bedeli 2.500,00\nFatura Tutarı 4.110,00\n")
    fields = record["extraction"]
    assert fields["invoice_total_with_vat_tl"]["value"] == 4110.0
    assert fields["invoice_total_with_vat_tl"]["confidence"] < LOW
    assert fields["energy_total_tl"]["confidence"] < LOW
    assert fields["consumption_kwh"]["value"] is None


def test_failed_checks_push_the_field_further_down() -> None:
    broken = BODY.replace("KDV (Matrah 3.425,00) %20 685,00", "KDV (Matrah 3.425,00) %20 700,00")
    record = read(HEAD + broken)
    total = record["extraction"]["invoice_total_with_vat_tl"]
    assert total["confidence"] < LOW
    assert "FAILED" in total["evidence"]


def test_an_energy_line_whose_arithmetic_fails_flags_the_consumption() -> None:
    text = HEAD + BODY.replace("Dağıtım", "Yüksek Kademe 500,000 kWh 3,000000 1.234,56\nDağıtım")
    record = read(text)
    kwh = record["extraction"]["consumption_kwh"]
    assert kwh["value"] == 1000.0
    assert kwh["confidence"] < LOW and "unbalanced" in kwh["evidence"]


def test_reactive_meter_and_statistics_lines_are_never_the_billed_kwh() -> None:
    extra = """İlk Endeks 12.000,000 Son Endeks 13.000,000
T1 600,000 T2 250,000 T3 150,000
TÜKETİM TOPLAMI 1.000,000 kWh
Reaktif Enerji Bedeli 1.234,000 0,500000 617,00
Ortalama Günlük Tüketim 33,333 kWh
"""
    record = read(HEAD + extra + BODY)
    kwh = record["extraction"]["consumption_kwh"]
    assert kwh["value"] == 1000.0
    assert "printed consumption total agrees held" in kwh["evidence"]
    assert all("Reaktif" not in item["label"] for item in record["line_items"])


def test_the_quantity_printed_below_its_label_is_found() -> None:
    text = HEAD + BODY.replace(
        "Aktif Enerji Bedeli 1.000,000 kWh 2,500000 2.500,00",
        "Aktif Enerji Bedeli 2,500000 2.500,00\n1.000,000 kWh",
    )
    record = read(text)
    assert record["extraction"]["consumption_kwh"]["value"] == 1000.0
    assert conf(record, "consumption_kwh") >= LOW


def test_an_ambiguous_thousands_group_is_settled_by_the_line_arithmetic() -> None:
    text = HEAD + "Dağıtım Bedeli 100.000 0,9 90.000,00\nTek Zamanlı 148.206 2,5 370,52\n"
    record = read(text)
    assert record["extraction"]["distribution_total_tl"]["value"] == 90000.0
    assert record["line_items"][-1]["qty"] == 100000.0
    assert record["extraction"]["consumption_kwh"]["value"] == 148.206


def test_a_bundle_without_numbers_splits_on_the_ettn() -> None:
    pages = [
        f"Örnek Elektrik A.Ş.\nETTN: 00000000-0000-4000-8000-00000000000{i}\n{BODY}" for i in (1, 2)
    ]
    records = read_invoice_text(pages, low_confidence=LOW)
    assert [r["invoice"]["ettn"][-1] for r in records] == ["1", "2"]
    assert [r["extraction"]["payable_tl"]["page"] for r in records] == [1, 2]


def test_a_page_repeating_the_same_number_continues_its_invoice() -> None:
    pages = [HEAD + "Aktif Enerji Bedeli 1.000,000 kWh 2,500000 2.500,00", HEAD + BODY[60:]]
    records = read_invoice_text(pages, low_confidence=LOW)
    assert len(records) == 1
    assert records[0]["extraction"]["payable_tl"]["page"] == 2


def test_ocr_text_earns_a_little_less_for_the_same_checks() -> None:
    text_record, ocr_record = read(HEAD + BODY), read(HEAD + BODY, method="ocr")
    assert LOW <= conf(ocr_record, "payable_tl") < conf(text_record, "payable_tl")


def test_amounts_in_words_are_ignored() -> None:
    record = read(HEAD + BODY + "Yalnız: Dört Bin Yüz On Türk Lirası Sıfır Kuruş\n")
    assert record["extraction"]["payable_tl"]["value"] == 4110.0


def test_adjust_field_sets_confidence_and_value_and_appends_the_note() -> None:
    record = read(HEAD + BODY)
    before = record["extraction"]["invoice_total_with_vat_tl"]["evidence"]
    adjust_field(
        record, "invoice_total_with_vat_tl", confidence=0.3, note="QR vergidahil 4200.00 disagrees"
    )
    field = record["extraction"]["invoice_total_with_vat_tl"]
    assert field["confidence"] == 0.3 and field["value"] == 4110.0
    assert field["evidence"] == before + " | QR vergidahil 4200.00 disagrees"
    adjust_field(record, "yek_amount_tl", value=12.5, confidence=0.9, note="from the QR")
    assert record["extraction"]["yek_amount_tl"]["value"] == 12.5
    adjust_field(record, "payable_tl", confidence=0.95, note="x" * (MAX_EVIDENCE + 10))
    assert len(record["extraction"]["payable_tl"]["evidence"]) <= MAX_EVIDENCE
    assert isinstance(parse_record(record), ExtractionRecord)
    with pytest.raises(ValueError):
        adjust_field(record, "payable_tl", confidence=1.5, note="out of range")


def test_periods_and_dates_in_their_printed_forms() -> None:
    forms = {
        "Fatura Dönemi: 2025/11": "2025-11",
        "Dönem: Kasım 2025": "2025-11",
        "Fatura Dönemi 11/2025": "2025-11",
        "Dönem 01.10.2025 - 31.10.2025": "2025-10",
        "Fatura Dönemi: ŞUBAT-2025": "2025-02",
    }
    for line, period in forms.items():
        record = read(HEAD + line + "\nFatura Tarihi: 31- 12 - 2025\n" + BODY)
        assert record["invoice"]["invoice_period"] == period, line
        assert record["invoice"]["invoice_date"] == "2025-12-31"


def test_a_summary_box_of_labels_over_values_is_read_by_column() -> None:
    box = "Fatura Tutarı Ödenecek Tutar Son Ödeme Tarihi\n4.110,00 4.110,00 25.12.2025\n"
    body = BODY.replace("Fatura Tutarı 4.110,00\nÖdenecek Tutar 4.110,00\n", box)
    record = read(HEAD + body)
    fields = record["extraction"]
    assert fields["invoice_total_with_vat_tl"]["value"] == 4110.0
    assert fields["payable_tl"]["value"] == 4110.0
    assert conf(record, "invoice_total_with_vat_tl") >= LOW


def test_tiers_printed_without_their_own_label_and_priced_bands_are_summed() -> None:
    unlabelled = BODY.replace(
        "Aktif Enerji Bedeli 1.000,000 kWh 2,500000 2.500,00",
        "Aktif Enerji Bedeli 600,000 kWh 2,000000 1.200,00\n400,000 kWh 3,250000 1.300,00",
    )
    record = read(HEAD + unlabelled)
    assert record["extraction"]["consumption_kwh"]["value"] == 1000.0
    assert record["extraction"]["current_active_unit_price_tl_per_kwh"]["value"] == 2.5
    bands = BODY.replace(
        "Aktif Enerji Bedeli 1.000,000 kWh 2,500000 2.500,00",
        "T1 Gündüz 500,000\nT2 Puant 300,000\nT3 Gece 200,000\nTÜKETİM TOPLAMI 1.000,000\n"
        "Gündüz 500,000 2,400000 1.200,00\nPuant 300,000 3,000000 900,00\n"
        "Gece 200,000 2,000000 400,00",
    )
    record = read(HEAD + bands)
    kwh = record["extraction"]["consumption_kwh"]
    assert kwh["value"] == 1000.0 and kwh["confidence"] >= LOW
    assert record["extraction"]["energy_total_tl"]["value"] == 2500.0


def test_supplier_names_broken_over_two_lines_and_other_period_forms() -> None:
    head = HEAD.replace(
        "Örnek Elektrik Perakende Satış A.Ş.", "ÖRNEK İSTANBUL ANADOLU YAKASI ELEKTRİK\nSATIŞ A.Ş."
    )
    record = read(head + "Dönem: 2025 Kasım\n" + BODY)
    assert record["invoice"]["supplier"] == "ÖRNEK İSTANBUL ANADOLU YAKASI ELEKTRİK SATIŞ A.Ş."
    assert record["invoice"]["invoice_period"] == "2025-11"
    record = read(HEAD + "İlk Okuma 01.10.2025 Son Okuma 31.10.2025\n" + BODY)
    assert record["invoice"]["invoice_period"] == "2025-10"


def test_ocr_text_with_every_cell_on_its_own_line() -> None:
    cells = []
    for line in BODY.splitlines():
        label = line.split(" 1.000,000")[0] if "1.000,000" in line else None
        if label is not None:
            cells += [label, *line[len(label) :].split(" kWh ")[0].split(), "kWh"]
            cells += line.split(" kWh ")[1].split()
        else:
            *words, value = line.split(" ")
            cells += [" ".join(words), value]
    record = read(HEAD + "\n".join(cells), method="ocr")
    fields = record["extraction"]
    assert fields["consumption_kwh"]["value"] == 1000.0
    assert fields["vat_tl"]["value"] == 685.0
    assert fields["invoice_total_with_vat_tl"]["value"] == 4110.0
    assert fields["payable_tl"]["value"] == 4110.0
    assert all(fields[k]["confidence"] >= LOW for k in ("consumption_kwh", "payable_tl"))


def test_another_invoices_number_on_a_page_does_not_split_the_invoice() -> None:
    pages = [HEAD + BODY[:60], "Önceki Fatura No: ABC2024000000777\n" + BODY[60:]]
    (record,) = read_invoice_text(pages, low_confidence=LOW)
    assert record["invoice"]["invoice_no"] == "ABC2025000000001"
    assert record["extraction"]["payable_tl"]["value"] == 4110.0


def test_without_billing_arithmetic_the_printed_consumption_total_stands_in_unconfirmed() -> None:
    text = HEAD + "Tüketim Toplamı 1.000,000 kWh\nEnerji Bedeli 2.500,00\n" + BODY[53:]
    record = read(text)
    kwh = record["extraction"]["consumption_kwh"]
    assert kwh["value"] == 1000.0 and kwh["confidence"] < LOW
    price = record["extraction"]["current_active_unit_price_tl_per_kwh"]
    assert price["value"] == 2.5 and price["confidence"] < LOW


def test_history_lines_and_capacitive_energy_are_not_this_invoices_figures() -> None:
    history = (
        "Önceki Dönem Fatura Tutarı 9.999,99\nGeçen Yıl Aynı Dönem Tüketim 1.100,000 kWh\n"
        "Kapasitif Enerji Bedeli 100,000 0,500000 50,00\n"
    )
    record = read(HEAD + history + BODY)
    fields = record["extraction"]
    assert fields["invoice_total_with_vat_tl"]["value"] == 4110.0
    assert fields["consumption_kwh"]["value"] == 1000.0
    assert fields["energy_total_tl"]["value"] == 2500.0


def test_a_printed_energy_total_confirms_the_summed_lines() -> None:
    text = HEAD + BODY.replace("Dağıtım", "Enerji Bedeli Toplamı 2.500,00\nDağıtım")
    record = read(text)
    assert "printed energy total agrees held" in record["extraction"]["energy_total_tl"]["evidence"]


def test_supplier_forms_without_dots_or_legal_suffix() -> None:
    head = HEAD.replace("Örnek Elektrik Perakende Satış A.Ş.", "ÖRNEK ELEKTRİK PERAKENDE SATIŞ AŞ")
    assert read(head + BODY)["invoice"]["supplier"] == "ÖRNEK ELEKTRİK PERAKENDE SATIŞ AŞ"
    head = HEAD.replace("Örnek Elektrik Perakende Satış A.Ş.", "Örnek Elektrik Perakende Satış")
    assert read(head + BODY)["invoice"]["supplier"] == "Örnek Elektrik Perakende Satış"


def test_prices_in_kurus_and_quantities_in_mwh_come_out_per_kwh() -> None:
    kurus = BODY.replace(
        "Aktif Enerji Bedeli 1.000,000 kWh 2,500000 2.500,00",
        "Aktif Enerji Bedeli 1.000,000 kWh 250,0000 kr/kWh 2.500,00",
    )
    record = read(HEAD + kurus)
    assert record["extraction"]["consumption_kwh"]["value"] == 1000.0
    assert record["extraction"]["current_active_unit_price_tl_per_kwh"]["value"] == 2.5
    mwh = BODY.replace(
        "Aktif Enerji Bedeli 1.000,000 kWh 2,500000 2.500,00",
        "Aktif Enerji Bedeli 1,000000 MWh 2.500,000000 TL/MWh 2.500,00",
    )
    record = read(HEAD + mwh)
    assert record["extraction"]["consumption_kwh"]["value"] == 1000.0
    assert record["extraction"]["current_active_unit_price_tl_per_kwh"]["value"] == 2.5
    assert conf(record, "consumption_kwh") >= LOW


def test_a_stray_uuid_on_the_second_page_does_not_split_the_invoice() -> None:
    pages = [
        HEAD + "ETTN: 00000000-0000-4000-8000-000000000001\n" + BODY[:60],
        "Ödeme referansı 99999999-9999-4999-8999-999999999999\n" + BODY[60:],
    ]
    (record,) = read_invoice_text(pages, low_confidence=LOW)
    assert record["invoice"]["ettn"] == "00000000-0000-4000-8000-000000000001"
