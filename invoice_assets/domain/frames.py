"""The invoice and line-item frames (SPEC §4.1): the one-row-per-invoice and one-row-per-line
DataFrames every rule works on, their columns and dtypes, and their construction from parsed inbox
items.

What it is for: flattening ``InboxItem`` records into frames column by column, and coercing rows
from anywhere (the store, tests, tools) to the same columns and dtypes.

Not for: parsing bytes or validating records (``records.py``), or any business rule.
"""

from __future__ import annotations

import json
import math
import operator
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from invoice_assets.domain.privacy import mask_pii
from invoice_assets.domain.records import META_FIELDS, NUMERIC_FIELDS, InboxItem, ItemError
from invoice_assets.domain.suppliers import NO_TABLE
from invoice_assets.kernel.memory import collector_paused

# ``supplier`` shows a known supplier's table name, else the name as printed; ``supplier_id`` is
# the canonical id (invoice keys, grouping); ``supplier_tax_id`` as the record carries it.
SUPPLIER_FIELDS: tuple[str, ...] = ("supplier_id", "supplier_tax_id")

INVOICE_COLUMNS: tuple[str, ...] = (
    "invoice_key",
    "source_file",
    "line_no",
    "status",
    "error_code",
    "error_field",
    "error_message",
    *META_FIELDS,
    *SUPPLIER_FIELDS,
    *NUMERIC_FIELDS,
    *(f"conf_{name}" for name in NUMERIC_FIELDS),
    "evidence_json",
)
LINE_ITEM_COLUMNS: tuple[str, ...] = (
    "invoice_key",
    "line",
    "label",
    "qty",
    "unit",
    "unit_price",
    "amount_tl",
    "confidence",
)
# Low-cardinality labels the rules compare and look up: categorical in the invoice frame.
LABEL_COLUMNS = ("status", "tariff_group", "voltage_level", "tariff_term", "invoice_period")
_STRING_COLUMNS = (
    "invoice_key",
    "source_file",
    "status",
    "error_code",
    "error_field",
    "error_message",
    *META_FIELDS,
    *SUPPLIER_FIELDS,
    "evidence_json",
)


def items_to_frames(items: Iterable[InboxItem]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One row per invoice (``status`` ok or failed) and one row per line item.

    Built column by column from the records' fields (no per-row dicts), with the cyclic
    collector paused: the records hold no cycles, and collections walking every live record
    would otherwise cost more than the building.
    """
    with collector_paused():
        return _item_frames(items)


_META = operator.itemgetter(*META_FIELDS)
_NUMBERS = operator.itemgetter(*NUMERIC_FIELDS)
_LINE = operator.itemgetter("label", "qty", "unit", "unit_price", "amount_tl", "confidence")
_NO_META = (None,) * (len(META_FIELDS) + len(SUPPLIER_FIELDS))
_SUPPLIER = META_FIELDS.index("supplier")
_NO_NUMBERS = (math.nan,) * len(NUMERIC_FIELDS) + (0.0,) * len(NUMERIC_FIELDS)


def _item_frames(items: Iterable[InboxItem]) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows: list[tuple[Any, ...]] = []
    lines: list[tuple[Any, ...]] = []
    for item in items:
        key = item.invoice_key
        record = item.record
        if record is None:
            error = item.error or ItemError("schema_violation", None, "no record")
            message = mask_pii(error.message)
            head = (key, item.source_file, item.line_no, "failed", error.code, error.field, message)
            rows.append((*head, *_NO_META, *_NO_NUMBERS, None))
            continue
        fields = _NUMBERS(record.extraction.__dict__)
        numbers = [math.nan if f.value is None else f.value for f in fields]
        located = [
            (n, f) for n, f in zip(NUMERIC_FIELDS, fields, strict=True) if f.evidence or f.page
        ]
        evidence = None
        if located:
            evidence = json.dumps(
                {n: {"evidence": mask_pii(f.evidence), "page": f.page} for n, f in located},
                ensure_ascii=False,
            )
        meta = list(_META(record.invoice.__dict__))
        who = item.supplier or NO_TABLE.resolve_one(meta[_SUPPLIER], record.invoice.supplier_tax_id)
        meta[_SUPPLIER] = who.name
        rows.append(
            (
                key,
                item.source_file,
                item.line_no,
                "ok",
                None,
                None,
                None,
                *meta,
                who.id,
                record.invoice.supplier_tax_id,
                *numbers,
                *[f.confidence for f in fields],
                evidence,
            )
        )
        for number, line in enumerate(record.line_items):
            lines.append((key, number, *_LINE(line.__dict__)))
    invoices = pd.DataFrame.from_records(rows, columns=INVOICE_COLUMNS, nrows=len(rows))
    return invoice_frame(invoices), line_item_frame(
        pd.DataFrame.from_records(lines, columns=LINE_ITEM_COLUMNS, nrows=len(lines))
    )


def invoice_frame(rows: Sequence[dict[str, Any]] | pd.DataFrame) -> pd.DataFrame:
    """Coerce rows to the invoice frame's columns and dtypes (missing columns become null)."""
    frame = pd.DataFrame(rows) if not isinstance(rows, pd.DataFrame) else rows.copy()
    frame = frame.reindex(columns=list(INVOICE_COLUMNS))
    for name in _STRING_COLUMNS:
        frame[name] = frame[name].astype("object").where(frame[name].notna(), None)
    for name in LABEL_COLUMNS:  # a handful of distinct values each: compared as integer codes
        frame[name] = frame[name].astype("category")
    frame["line_no"] = pd.to_numeric(frame["line_no"], errors="coerce").astype("Int64")
    for name in NUMERIC_FIELDS:
        frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
        conf = f"conf_{name}"
        frame[conf] = pd.to_numeric(frame[conf], errors="coerce").fillna(0.0).astype("float64")
    return frame.reset_index(drop=True)


def line_item_frame(rows: Sequence[dict[str, Any]] | pd.DataFrame) -> pd.DataFrame:
    frame = pd.DataFrame(rows) if not isinstance(rows, pd.DataFrame) else rows.copy()
    frame = frame.reindex(columns=list(LINE_ITEM_COLUMNS))
    for name in ("qty", "unit_price", "amount_tl", "confidence"):
        frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
    frame["line"] = pd.to_numeric(frame["line"], errors="coerce").fillna(0).astype("int64")
    for name in ("invoice_key", "label", "unit"):
        frame[name] = frame[name].astype("object")
    return frame.reset_index(drop=True)


def record_from_row(row: dict[str, Any]) -> dict[str, Any]:
    """The extraction record of one invoice-frame row, as JSON-ready data (for tests and tools)."""
    extraction = {}
    for name in NUMERIC_FIELDS:
        value = row.get(name)
        if value is not None and not (isinstance(value, float) and np.isnan(value)):
            extraction[name] = {"value": float(value), "confidence": float(row[f"conf_{name}"])}
    invoice = {name: row.get(name) for name in META_FIELDS}
    if isinstance(row.get("supplier_tax_id"), str):
        invoice["supplier_tax_id"] = row["supplier_tax_id"]
    return {"schema_version": 1, "invoice": invoice, "extraction": extraction, "line_items": []}
