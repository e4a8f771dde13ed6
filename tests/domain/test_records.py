"""``domain/records.py``: strict parsing of inbox content into records, keys and frames (SPEC §4.1).

Bad input never raises: every failure is an ``ItemError`` with a machine-readable ``code`` and,
where one field is to blame, the dotted path of that field.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from invoice_assets.domain import frames, records
from invoice_assets.domain.records import ItemError, parse_inbox_content, parse_record
from tests.domain.conftest import MAX_BYTES, evaluate_records, make_record

PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"


def encode(record: dict[str, Any]) -> bytes:
    return json.dumps(record, ensure_ascii=False).encode()


def error_of(obj: Any) -> ItemError:
    parsed = parse_record(obj)
    assert isinstance(parsed, ItemError), f"expected an error, got {parsed!r}"
    return parsed


def with_value(field: str, value: Any, key: str = "value") -> dict[str, Any]:
    record = make_record()
    record["extraction"][field][key] = value
    return record


# --- well-formed records -------------------------------------------------------------------------


def test_clean_record_parses_into_a_typed_record():
    parsed = parse_record(make_record())
    assert isinstance(parsed, records.ExtractionRecord)
    assert parsed.extraction.consumption_kwh.value == 10_000.0
    assert parsed.invoice.tariff_group == "sanayi"


def test_integer_values_are_accepted_as_numbers():
    parsed = parse_record(with_value("consumption_kwh", 10_000))
    assert isinstance(parsed, records.ExtractionRecord)
    assert parsed.extraction.consumption_kwh.value == 10_000


def test_missing_numeric_field_equals_null_with_zero_confidence():
    parsed = parse_record(make_record(drop=["btv_tl"]))
    assert isinstance(parsed, records.ExtractionRecord)
    assert parsed.extraction.btv_tl.value is None
    assert parsed.extraction.btv_tl.confidence == 0.0


def test_utf8_bom_and_turkish_text_are_accepted():
    record = make_record(invoice={"supplier": "Şişli Elektrik Dağıtım"})
    parsed = records.parse_record_bytes(b"\xef\xbb\xbf" + encode(record))
    assert isinstance(parsed, records.ExtractionRecord)
    assert parsed.invoice.supplier == "Şişli Elektrik Dağıtım"


def test_implausible_but_well_typed_values_are_not_extraction_failures():
    parsed = parse_record(make_record(consumption_kwh=-5.0, current_active_unit_price_tl_per_kwh=0))
    assert isinstance(parsed, records.ExtractionRecord)


# --- wrong types ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["1.234,56", "1234.56", "10000", True, [1], {"amount": 1}],
    ids=["turkish_formatted", "numeric_string", "integer_string", "bool", "list", "object"],
)
def test_non_number_in_a_numeric_field_is_wrong_type_naming_the_field(value):
    error = error_of(with_value("consumption_kwh", value))
    assert error.code == "wrong_type"
    assert error.field == "extraction.consumption_kwh.value"


def test_bare_number_instead_of_value_object_is_wrong_type():
    record = make_record()
    record["extraction"]["consumption_kwh"] = 10_000
    error = error_of(record)
    assert (error.code, error.field) == ("wrong_type", "extraction.consumption_kwh")


def test_number_where_text_belongs_is_wrong_type():
    error = error_of(make_record(invoice={"supplier": 12}))
    assert (error.code, error.field) == ("wrong_type", "invoice.supplier")


def test_string_in_a_line_item_amount_is_wrong_type_naming_the_line():
    record = make_record()
    record["line_items"][0]["amount_tl"] = "30.000,00"
    error = error_of(record)
    assert (error.code, error.field) == ("wrong_type", "line_items.0.amount_tl")


def test_top_level_array_is_a_schema_violation():
    error = records.parse_record_bytes(b"[1, 2, 3]")
    assert isinstance(error, ItemError)
    assert error.code == "schema_violation"


def test_missing_supplier_is_missing_required_field():
    record = make_record()
    del record["invoice"]["supplier"]
    error = error_of(record)
    assert (error.code, error.field) == ("missing_required_field", "invoice.supplier")


def test_missing_invoice_block_is_missing_required_field():
    record = make_record()
    del record["invoice"]
    assert error_of(record).code == "missing_required_field"


def test_unsupported_schema_version_is_refused():
    record = make_record()
    record["schema_version"] = 2
    error = error_of(record)
    assert (error.code, error.field) == ("unsupported_schema_version", "schema_version")


def test_overlong_identifier_is_value_too_long():
    error = error_of(make_record(invoice={"invoice_no": "X" * (records.MAX_TEXT + 1)}))
    assert (error.code, error.field) == ("value_too_long", "invoice.invoice_no")


# --- NaN, infinity, confidence -------------------------------------------------------------------


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
def test_nan_and_infinity_literals_are_non_finite_numbers(literal):
    raw = encode(make_record()).replace(b'"value": 10000.0', b'"value": ' + literal, 1)
    assert literal in raw
    error = records.parse_record_bytes(raw)
    assert isinstance(error, ItemError)
    assert (error.code, error.field) == ("non_finite_number", "extraction.consumption_kwh.value")


def test_nan_confidence_is_non_finite_number():
    error = error_of(with_value("consumption_kwh", float("nan"), key="confidence"))
    assert (error.code, error.field) == (
        "non_finite_number",
        "extraction.consumption_kwh.confidence",
    )


@pytest.mark.parametrize("confidence", [-0.01, 1.01, 95])
def test_confidence_outside_zero_to_one_is_refused(confidence):
    error = error_of(with_value("invoice_total_with_vat_tl", confidence, key="confidence"))
    assert error.code == "confidence_out_of_range"
    assert error.field == "extraction.invoice_total_with_vat_tl.confidence"


@pytest.mark.parametrize("confidence", [0.0, 1.0])
def test_confidence_at_zero_and_one_is_accepted(confidence):
    parsed = parse_record(with_value("consumption_kwh", confidence, key="confidence"))
    assert isinstance(parsed, records.ExtractionRecord)


def test_line_item_confidence_outside_range_is_refused():
    record = make_record()
    record["line_items"][0]["confidence"] = 1.5
    error = error_of(record)
    assert (error.code, error.field) == ("confidence_out_of_range", "line_items.0.confidence")


# --- unknown fields ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ((), "extra"),
        (("invoice",), "invoice.extra"),
        (("extraction",), "extraction.extra"),
        (("extraction", "consumption_kwh"), "extraction.consumption_kwh.extra"),
    ],
)
def test_unknown_field_is_refused_naming_it(path, field):
    record = make_record()
    target = record
    for part in path:
        target = target[part]
    target["extra"] = {"value": 1, "confidence": 1}
    error = error_of(record)
    assert (error.code, error.field) == ("unknown_field", field)


def test_misspelled_numeric_field_is_an_unknown_field():
    record = make_record()
    record["extraction"]["consumption_kw"] = record["extraction"].pop("consumption_kwh")
    error = error_of(record)
    assert (error.code, error.field) == ("unknown_field", "extraction.consumption_kw")


# --- dates and periods ---------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["2025-02-30", "2025-13-01", "20250205", "05.02.2025", "2025"])
def test_bad_invoice_date_is_invalid_date(value):
    error = error_of(make_record(invoice={"invoice_date": value}))
    assert (error.code, error.field) == ("invalid_date", "invoice.invoice_date")


@pytest.mark.parametrize("value", ["2025-13", "2025-00", "2025-1", "01-2025", "2025-01-01", ""])
def test_bad_invoice_period_is_invalid_period(value):
    error = error_of(make_record(invoice={"invoice_period": value}))
    assert (error.code, error.field) == ("invalid_period", "invoice.invoice_period")


def test_null_date_and_period_are_allowed():
    parsed = parse_record(make_record(invoice={"invoice_date": None, "invoice_period": None}))
    assert isinstance(parsed, records.ExtractionRecord)


# --- bytes: encoding, JSON, size, kind -----------------------------------------------------------


def test_latin1_encoded_record_is_invalid_encoding():
    raw = encode(make_record(invoice={"supplier": "Şişli"})).decode().encode("iso-8859-9")
    [item] = parse_inbox_content("latin.json", raw, MAX_BYTES)
    assert item.record is None
    assert item.error is not None and item.error.code == "invalid_encoding"


def test_truncated_json_is_invalid_json():
    raw = encode(make_record())
    [item] = parse_inbox_content("cut.json", raw[: len(raw) // 2], MAX_BYTES)
    assert item.error is not None and item.error.code == "invalid_json"


def test_deeply_nested_json_is_invalid_json_not_a_crash():
    raw = b'{"invoice": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"
    [item] = parse_inbox_content("deep.json", raw, 10 * MAX_BYTES)
    assert item.error is not None and item.error.code == "invalid_json"


def test_deeply_nested_first_line_is_invalid_json_not_a_crash():
    raw = b'{"a": ' + b"[" * 200_000 + b"\n" + encode(make_record())
    items = parse_inbox_content("deep.json", raw, 10 * MAX_BYTES)
    assert items[0].error is not None and items[0].error.code == "invalid_json"


@pytest.mark.parametrize("content", [b"", b"   \n\t\r\n"], ids=["empty", "whitespace"])
def test_empty_file_is_empty_file(content):
    [item] = parse_inbox_content("empty.json", content, MAX_BYTES)
    assert item.error is not None and item.error.code == "empty_file"
    assert item.invoice_key == hashlib.sha256(content).hexdigest()


def test_file_over_max_bytes_is_file_too_large():
    raw = encode(make_record())
    [item] = parse_inbox_content("big.json", raw, max_bytes=len(raw) - 1)
    assert item.error is not None and item.error.code == "file_too_large"


def test_file_at_max_bytes_is_parsed():
    raw = encode(make_record())
    [item] = parse_inbox_content("fits.json", raw, max_bytes=len(raw))
    assert item.error is None and item.record is not None


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("invoice.pdf", PDF),
        ("invoice.json", PDF),
        ("scan.png", PNG),
        ("scan.pdf", PNG),
        ("photo.jpg", JPEG),
        ("photo.json", JPEG),
    ],
)
def test_pdf_and_images_are_sniffed_by_content_and_need_the_extractor(name, content):
    [item] = parse_inbox_content(name, content, MAX_BYTES)
    assert item.record is None
    assert item.error is not None and item.error.code == "extractor_unavailable"


def test_json_content_named_pdf_is_parsed_as_json():
    [item] = parse_inbox_content("looks_like.pdf", encode(make_record()), MAX_BYTES)
    assert item.error is None and item.record is not None


def test_unrecognised_content_is_unsupported_type():
    [item] = parse_inbox_content("notes.json", b"hello, invoice", MAX_BYTES)
    assert item.error is not None and item.error.code == "unsupported_type"


def test_pretty_printed_json_is_one_record():
    raw = json.dumps(make_record(), indent=2).encode()
    [item] = parse_inbox_content("pretty.json", raw, MAX_BYTES)
    assert item.error is None and item.line_no is None


# --- .jsonl --------------------------------------------------------------------------------------


def jsonl(*lines: bytes) -> bytes:
    return b"\n".join(lines) + b"\n"


def test_jsonl_gives_one_item_per_non_empty_line_with_line_numbers():
    first = encode(make_record(invoice={"invoice_no": "A"}))
    second = encode(make_record(invoice={"invoice_no": "B"}))
    items = parse_inbox_content("bulk.jsonl", jsonl(first, b"", second), MAX_BYTES)
    assert [i.line_no for i in items] == [1, 3]
    assert all(i.error is None for i in items)
    assert [i.raw_sha256 for i in items] == [
        hashlib.sha256(first).hexdigest(),
        hashlib.sha256(second).hexdigest(),
    ]


def test_jsonl_bad_lines_fail_on_their_own_and_others_proceed():
    good = encode(make_record(invoice={"invoice_no": "A"}))
    bad_type = encode(with_value("consumption_kwh", "1.234,56"))
    items = parse_inbox_content("bulk.jsonl", jsonl(good, b'{"truncated": ', bad_type), MAX_BYTES)
    assert [i.line_no for i in items] == [1, 2, 3]
    assert items[0].error is None
    assert items[1].error is not None and items[1].error.code == "invalid_json"
    assert items[2].error == ItemError(
        "wrong_type", "extraction.consumption_kwh.value", "Input should be a valid number"
    )


def test_jsonl_with_a_broken_first_line_still_parses_the_other_lines():
    good = encode(make_record(invoice={"invoice_no": "A"}))
    items = parse_inbox_content("bulk.jsonl", jsonl(b'{"schema_version": 1,', good), MAX_BYTES)
    assert [i.line_no for i in items] == [1, 2]
    assert items[0].error is not None and items[0].error.code == "invalid_json"
    assert items[1].record is not None


def test_jsonl_invoices_in_equal_ok_plus_failed():
    lines = [encode(make_record(invoice={"invoice_no": f"N{i}"})) for i in range(5)]
    lines[2] = b"not json"
    items = parse_inbox_content("bulk.jsonl", jsonl(*lines), MAX_BYTES)
    invoices, _ = frames.items_to_frames(items)
    assert len(invoices) == 5
    assert invoices["status"].value_counts().to_dict() == {"ok": 4, "failed": 1}


# --- invoice keys and duplicates -----------------------------------------------------------------


def test_invoice_key_is_ettn_when_present():
    parsed = parse_record(make_record(invoice={"ettn": "ETTN-123"}))
    assert isinstance(parsed, records.ExtractionRecord)
    assert records.invoice_key(parsed, "sha") == "ETTN-123"


def test_invoice_key_is_supplier_id_number_period_without_ettn():
    parsed = parse_record(make_record())  # supplier "acme_enerji": its id folds to acme-enerji
    assert isinstance(parsed, records.ExtractionRecord)
    assert records.invoice_key(parsed, "sha") == "acme-enerji|INV-0001|2025-01"


def test_invoice_key_keeps_an_empty_period_slot():
    parsed = parse_record(make_record(invoice={"invoice_period": None}))
    assert isinstance(parsed, records.ExtractionRecord)
    assert records.invoice_key(parsed, "sha") == "acme-enerji|INV-0001|"


def test_invoice_key_is_the_sha256_of_the_bytes_without_ettn_or_number():
    raw = encode(make_record(invoice={"invoice_no": None}))
    [item] = parse_inbox_content("anon.json", raw, MAX_BYTES)
    assert item.invoice_key == hashlib.sha256(raw).hexdigest()


def test_invoice_key_is_stable_across_reruns():
    raw = encode(make_record(invoice={"invoice_no": None}))
    first = [i.invoice_key for i in parse_inbox_content("a.json", raw, MAX_BYTES)]
    second = [i.invoice_key for i in parse_inbox_content("a.json", raw, MAX_BYTES)]
    assert first == second


def test_same_number_in_different_periods_are_different_invoices():
    january = parse_record(make_record())
    february = parse_record(make_record(invoice={"invoice_period": "2025-02"}))
    assert isinstance(january, records.ExtractionRecord)
    assert isinstance(february, records.ExtractionRecord)
    assert records.invoice_key(january, "x") != records.invoice_key(february, "x")


def test_second_record_with_the_same_key_fails_as_duplicate_invoice():
    first = encode(make_record(invoice={"ettn": "E-1"}, consumption_kwh=10_000.0))
    second = encode(make_record(invoice={"ettn": "E-1"}, consumption_kwh=12_000.0))
    items = records.mark_duplicates(
        parse_inbox_content("a.json", first, MAX_BYTES)
        + parse_inbox_content("b.json", second, MAX_BYTES)
    )
    assert items[0].record is not None
    assert items[1].record is None
    assert items[1].error is not None
    assert (items[1].error.code, items[1].error.field) == ("duplicate_invoice", "invoice")
    # the duplicate stays accounted for under its own bytes' key, never merged into the first
    assert items[1].invoice_key == hashlib.sha256(second).hexdigest()
    assert items[0].invoice_key == "E-1"


def test_duplicates_within_one_jsonl_are_detected():
    line = encode(make_record())
    items = records.mark_duplicates(parse_inbox_content("bulk.jsonl", jsonl(line, line), MAX_BYTES))
    assert [i.error.code if i.error else None for i in items] == [None, "duplicate_invoice"]


def test_two_identical_empty_files_do_not_crash_the_evaluation():
    ev = evaluate_records([b"", b"", make_record()])
    assert list(ev.invoices["status"]) == ["failed", "failed", "ok"]
    assert list(ev.scores["quality_grade"]) == ["BAD", "BAD", "OK"]
