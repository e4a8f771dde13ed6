"""Comparing a reader's record with the spec it was generated from."""

from __future__ import annotations

from typing import Any

from invoice_assets.domain.records import ExtractionRecord, parse_record
from tests.documents.spec import InvoiceSpec

KEY_FIELDS = (
    "consumption_kwh",
    "current_active_unit_price_tl_per_kwh",
    "invoice_total_with_vat_tl",
    "payable_tl",
)
LOW = 0.6  # LOW_CONFIDENCE of config/thresholds.yaml, passed explicitly to the readers


def assert_reads(record: dict[str, Any], spec: InvoiceSpec, *, min_confidence: float = LOW) -> None:
    """Every expected field within 0.5 % (printed amounts to the kuruş), key fields trusted,
    the identifying fields exact, and the record valid for the pipeline."""
    parsed = parse_record(record)
    assert isinstance(parsed, ExtractionRecord), parsed
    fields = record["extraction"]
    for name, expected in spec.expected().items():
        got = fields.get(name, {}).get("value")
        assert got is not None, f"{name}: nothing read (expected {expected})"
        tolerance = 0.005 if name.endswith("_tl") else abs(expected) * 0.005
        assert abs(got - expected) <= tolerance, f"{name}: {got} != {expected}"
    for name in KEY_FIELDS:
        assert fields[name]["confidence"] >= min_confidence, (name, fields[name])
        assert fields[name]["evidence"], name
        assert fields[name]["page"] >= 1
    meta = record["invoice"]
    assert meta["invoice_no"] == spec.invoice_no
    assert meta["ettn"] == spec.ettn
    assert meta["invoice_period"] == spec.period
    assert meta["invoice_date"] == spec.invoice_date.isoformat()
    assert meta["supplier"] == spec.supplier
    assert meta.get("supplier_tax_id") == spec.supplier_tax_id
