"""How the demo generator prints things: evidence strings, line items, the record's JSON bytes and
the atomic file write, plus the invoice key a record will get (SPEC §4.1).

The layout here is part of the demo's contract: the same record must always give the same bytes
(``generator.py`` promises byte-identical files for the same seed). Not for: deciding what an
invoice holds (``records.py``) or which incident it should raise (``rules.py``),
and not a general JSON writer for the pipeline.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from invoice_assets.domain.suppliers import SupplierDirectory


def _tr(value: float, decimals: int) -> str:
    """Turkish number format: 1.234.567,89."""
    return f"{value:,.{decimals}f}".translate(str.maketrans(",.", ".,"))


_EVIDENCE: dict[str, tuple[str, int, str]] = {  # field: (printed label, decimals, unit)
    "consumption_kwh": ("Toplam tüketim", 0, "kWh"),
    "current_active_unit_price_tl_per_kwh": ("Aktif enerji birim fiyat", 6, "TL/kWh"),
    "distribution_unit_price_tl_per_kwh": ("Dağıtım bedeli birim fiyat", 6, "TL/kWh"),
    "demand_qty": ("Sözleşme gücü", 0, "kW"),
    "demand_unit_price_tl_per_unit": ("Güç bedeli birim fiyat", 2, "TL/kW"),
    "invoice_total_with_vat_tl": ("Fatura tutarı (KDV dahil)", 2, "TL"),
    "energy_total_tl": ("Aktif enerji bedeli", 2, "TL"),
    "distribution_total_tl": ("Dağıtım bedeli", 2, "TL"),
    "btv_tl": ("Elektrik tüketim vergisi", 2, "TL"),
    "vat_tl": ("KDV", 2, "TL"),
    "yek_amount_tl": ("YEK bedeli", 2, "TL"),
    "payable_tl": ("Ödenecek tutar", 2, "TL"),
}


def evidence(name: str, value: float) -> str:
    label, decimals, unit = _EVIDENCE[name]
    return f"{label}: {_tr(value, decimals)} {unit}"


def line_item(
    label: str,
    qty: float | None,
    unit: str | None,
    unit_price: float | None,
    amount: float,
    confidence: float,
) -> dict[str, Any]:
    return {
        "label": label,
        "qty": qty,
        "unit": unit,
        "unit_price": unit_price,
        "amount_tl": amount,
        "confidence": confidence,
    }


def invoice_key(record: dict[str, Any], suppliers: SupplierDirectory) -> str:
    """The invoice key of SPEC §4.1 (ettn, else supplier_id|invoice_no|invoice_period, the
    canonical supplier id from the ``suppliers`` table the pipeline uses)."""
    meta = record["invoice"]
    if meta["ettn"]:
        return str(meta["ettn"])
    supplier = suppliers.resolve_one(meta["supplier"], meta.get("supplier_tax_id"))
    return f"{supplier.id}|{meta['invoice_no']}|{meta['invoice_period'] or ''}"


encode = json.JSONEncoder(ensure_ascii=False).encode


def dump_record(record: dict[str, Any]) -> bytes:
    """The record as JSON, one field or line item per line (readable, and C-encoder fast)."""

    enc = encode

    def block(name: str, rows: list[str], open_: str, close: str) -> str:
        inner = ",\n".join(f"    {row}" for row in rows)
        return (
            f"  {enc(name)}: {open_}\n{inner}\n  {close}"
            if rows
            else f"  {enc(name)}: {open_}{close}"
        )

    extraction = [f"{enc(k)}: {enc(v)}" for k, v in record["extraction"].items()]
    lines = [enc(item) for item in record["line_items"]]
    body = ",\n".join(
        [
            f'  "schema_version": {enc(record["schema_version"])}',
            f'  "invoice": {enc(record["invoice"])}',
            block("extraction", extraction, "{", "}"),
            block("line_items", lines, "[", "]"),
        ]
    )
    return f"{{\n{body}\n}}\n".encode()


def write_atomic(path: Path, content: bytes) -> None:
    """Write via a hidden temporary file and rename, so a watcher never reads half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(content)
    os.replace(tmp, path)
