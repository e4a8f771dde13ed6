"""Builders for domain tests: clean extraction records, frames and one-call evaluation.

``make_record()`` is a flag-free invoice (sanayi / OG / tek_terim, period 2025-01, 10 000 kWh at
3 TL/kWh, the tariff-table distribution price) whose printed parts add up exactly to its printed
total. Keyword overrides name extraction fields (``consumption_kwh=0``), ``None`` means "read as
null", ``drop=(...)`` removes fields entirely, ``conf={field: c}`` sets confidences and
``invoice={...}`` overrides the invoice metadata. Printed parts not given explicitly are derived
from consumption and prices exactly the way the breakdown derives them, so the record stays
consistent unless a test sets a total on purpose.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd
import pytest

from invoice_assets.domain import frames, pipeline, records
from invoice_assets.domain.market import MarketData
from invoice_assets.domain.thresholds import Thresholds
from resources.market_data import load_market_data
from resources.thresholds import load_thresholds

# SPEC §5.2 tax rates (config/tax_rates.yaml): BTV sanayi 1 %, others 5 %; VAT 20 %, tarımsal 10 %.
BTV_SANAYI = 0.01
BTV_DEFAULT = 0.05
VAT_DEFAULT = 0.20
VAT_TARIMSAL = 0.10
MAX_BYTES = 1_000_000

BASE_META: dict[str, Any] = {
    "invoice_no": "INV-0001",
    "ettn": None,
    "supplier": "acme_enerji",
    "invoice_date": "2025-02-05",
    "invoice_period": "2025-01",
    "tariff_group": "sanayi",
    "voltage_level": "OG",
    "tariff_term": "tek_terim",
}
# sanayi / OG / tek_terim tariff row valid from 2025-01-01 (config/distribution_tariffs.csv).
TABLE_DIST_2025_01 = 0.8418
BASE_VALUES: dict[str, float | None] = {
    "consumption_kwh": 10_000.0,
    "current_active_unit_price_tl_per_kwh": 3.0,
    "distribution_unit_price_tl_per_kwh": TABLE_DIST_2025_01,
}
DEFAULT_CONFIDENCE = 0.95


def _num(value: Any) -> float | None:
    return None if value is None else float(value)


def make_record(
    *,
    invoice: dict[str, Any] | None = None,
    conf: dict[str, float] | None = None,
    line_items: list[dict[str, Any]] | None = None,
    drop: Iterable[str] = (),
    btv_rate: float = BTV_SANAYI,
    vat_rate: float = VAT_DEFAULT,
    **values: float | None,
) -> dict[str, Any]:
    """A JSON-ready extraction record (see the module docstring)."""
    unknown = set(values) - set(records.NUMERIC_FIELDS)
    if unknown:
        raise TypeError(f"not extraction fields: {sorted(unknown)}")
    v: dict[str, float | None] = {**BASE_VALUES, **values}
    kwh = _num(v["consumption_kwh"])
    price = _num(v["current_active_unit_price_tl_per_kwh"])
    dist = _num(v["distribution_unit_price_tl_per_kwh"])

    if "energy_total_tl" not in v:
        v["energy_total_tl"] = kwh * price if kwh is not None and price is not None else None
    if "distribution_total_tl" not in v:
        v["distribution_total_tl"] = kwh * dist if kwh is not None and dist is not None else None
    energy = _num(v["energy_total_tl"]) or 0.0
    distribution = _num(v["distribution_total_tl"]) or 0.0
    qty, unit = _num(v.get("demand_qty")), _num(v.get("demand_unit_price_tl_per_unit"))
    demand = qty * unit if qty is not None and unit is not None else 0.0
    if "btv_tl" not in v:
        v["btv_tl"] = energy * btv_rate
    btv = _num(v["btv_tl"]) or 0.0
    subtotal = energy + distribution + demand + btv
    if "vat_tl" not in v:
        v["vat_tl"] = subtotal * vat_rate
    if "invoice_total_with_vat_tl" not in v:
        v["invoice_total_with_vat_tl"] = subtotal + (_num(v["vat_tl"]) or 0.0)

    confidences = conf or {}
    extraction = {
        name: {"value": value, "confidence": confidences.get(name, DEFAULT_CONFIDENCE)}
        for name, value in v.items()
        if name not in set(drop)
    }
    if line_items is None:
        line_items = []
        if kwh is not None and price is not None and v["energy_total_tl"] is not None:
            line_items.append(
                {
                    "label": "Aktif enerji",
                    "qty": kwh,
                    "unit": "kWh",
                    "unit_price": price,
                    "amount_tl": v["energy_total_tl"],
                    "confidence": DEFAULT_CONFIDENCE,
                }
            )
    return {
        "schema_version": 1,
        "invoice": {**BASE_META, **(invoice or {})},
        "extraction": extraction,
        "line_items": line_items,
    }


def record_items(
    recs: Sequence[dict[str, Any] | bytes], *, dedupe: bool = True
) -> list[records.InboxItem]:
    """Inbox items as the extraction asset builds them (bytes go through the inbox parser)."""
    items: list[records.InboxItem] = []
    for number, rec in enumerate(recs):
        name = f"invoice_{number:03d}.json"
        if isinstance(rec, bytes):
            items.extend(records.parse_inbox_content(name, rec, MAX_BYTES))
            continue
        raw = json.dumps(rec, sort_keys=True).encode()
        parsed = records.parse_record(copy.deepcopy(rec))
        sha = records._sha(raw)
        if isinstance(parsed, records.ItemError):
            items.append(records.InboxItem(name, None, sha, None, parsed))
        else:
            items.append(records.InboxItem(name, None, sha, parsed, None))
    return records.mark_duplicates(items) if dedupe else items


def evaluate_records(
    recs: Sequence[dict[str, Any] | bytes],
    t: Thresholds | None = None,
    market: MarketData | None = None,
    tenant: str = "default",
) -> pipeline.Evaluation:
    """Parse, flatten and evaluate records with the shipped (or given) config."""
    invoices, lines = frames.items_to_frames(record_items(recs))
    return pipeline.evaluate(
        invoices,
        lines,
        market if market is not None else load_market_data(),
        t if t is not None else load_thresholds(),
        tenant=tenant,
    )


def values(column: Iterable[Any]) -> list[Any]:
    """A column as a list, missing values as ``None`` (pandas 3 ``str`` columns hold NaN)."""
    return [None if _missing(v) else v for v in column]


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value) or value is pd.NA


def flags_of(ev: pipeline.Evaluation, row: int = 0) -> list[str]:
    """The flags of one invoice, ordered by priority."""
    return list(ev.flags.loc[ev.flags["row"] == row, "flag"])


def issues_of(ev: pipeline.Evaluation, row: int = 0, kind: str | None = None) -> set[str]:
    """``{(code, field)}`` of one invoice's validation issues (errors, warnings or both)."""
    mask = ev.issues["row"] == row
    if kind is not None:
        mask &= ev.issues["kind"] == kind
    sub = ev.issues[mask]
    return set(zip(sub["code"], sub["field"], strict=True))


@pytest.fixture(scope="session")
def t() -> Thresholds:
    return load_thresholds()


@pytest.fixture(scope="session")
def market() -> MarketData:
    return load_market_data()
