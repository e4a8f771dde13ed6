"""``domain/frames.py``: parsed inbox items flattened into the invoice and line-item frames."""

from __future__ import annotations

import json
from typing import Any

from invoice_assets.domain import frames, records
from invoice_assets.domain.records import parse_inbox_content, parse_record
from tests.domain.conftest import MAX_BYTES, make_record


def encode(record: dict[str, Any]) -> bytes:
    return json.dumps(record, ensure_ascii=False).encode()


def with_value(field: str, value: Any) -> dict[str, Any]:
    record = make_record()
    record["extraction"][field]["value"] = value
    return record


def test_frames_have_one_row_per_item_and_one_row_per_line_item():
    items = parse_inbox_content("a.json", encode(make_record()), MAX_BYTES)
    items += parse_inbox_content("b.json", b"{", MAX_BYTES)
    invoices, lines = frames.items_to_frames(items)
    assert list(invoices.columns) == list(frames.INVOICE_COLUMNS)
    assert list(lines.columns) == list(frames.LINE_ITEM_COLUMNS)
    assert list(invoices["status"]) == ["ok", "failed"]
    assert list(invoices["error_code"]) == [None, "invalid_json"]
    assert len(lines) == 1 and lines.loc[0, "invoice_key"] == invoices.loc[0, "invoice_key"]


def test_frames_turn_missing_values_into_nan_and_missing_confidence_into_zero():
    items = parse_inbox_content("a.json", encode(make_record(drop=["btv_tl"])), MAX_BYTES)
    invoices, _ = frames.items_to_frames(items)
    assert invoices["btv_tl"].isna().all()
    assert invoices.loc[0, "conf_btv_tl"] == 0.0
    assert invoices["consumption_kwh"].dtype == "float64"


def test_failed_item_row_keeps_code_and_field():
    items = parse_inbox_content("a.json", encode(with_value("vat_tl", "7.000,00")), MAX_BYTES)
    invoices, lines = frames.items_to_frames(items)
    row = invoices.iloc[0]
    assert (row["status"], row["error_code"], row["error_field"]) == (
        "failed",
        "wrong_type",
        "extraction.vat_tl.value",
    )
    assert lines.empty


def test_record_from_row_round_trips_through_the_parser():
    items = parse_inbox_content("a.json", encode(make_record()), MAX_BYTES)
    invoices, _ = frames.items_to_frames(items)
    again = parse_record(frames.record_from_row(invoices.iloc[0].to_dict()))
    assert isinstance(again, records.ExtractionRecord)
    assert again.invoice == items[0].record.invoice  # type: ignore[union-attr]
