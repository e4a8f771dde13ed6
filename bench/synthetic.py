"""Synthetic invoice frames built directly with numpy (no JSON, no pydantic): the input of the
domain benchmark, and of the ``--big`` partition (written out as ``.jsonl``).

A clean invoice is internally consistent: a tariff the table knows, a billing month with a
market price, printed parts that add up to the printed total. About 10 % of the rows carry one
injected anomaly (kinds and shares in ``ANOMALIES``) whose magnitude is placed from the live
thresholds, so every incident-raising path of SPEC §5.1–§5.5 is exercised at every size.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from invoice_assets.domain.frames import invoice_frame, line_item_frame
from invoice_assets.domain.records import META_FIELDS, NUMERIC_FIELDS

if TYPE_CHECKING:
    from invoice_assets.domain.market import MarketData
    from invoice_assets.domain.thresholds import Thresholds

SUPPLIERS = (
    "Enerjisa",
    "CK Enerji",
    "Aydem Perakende",
    "Gediz Elektrik",
    "Uludağ Elektrik",
    "Başkent Elektrik",
    "Toroslar Elektrik",
    "Dicle Elektrik",
)
# (group, voltage, term, weight, kWh low, kWh high)
TARIFFS = (
    ("mesken", "AG", "tek_terim", 35, 150, 600),
    ("ticarethane", "AG", "tek_terim", 30, 1_000, 20_000),
    ("sanayi", "OG", "tek_terim", 15, 20_000, 500_000),
    ("sanayi", "OG", "cift_terim", 8, 20_000, 500_000),
    ("tarimsal", "AG", "tek_terim", 12, 2_000, 50_000),
)
# Injected anomalies and their share of all rows (≈ 10 % in total).
ANOMALIES = {
    "s2_mismatch": 0.020,
    "s1_mismatch": 0.012,
    "locale_slip": 0.004,
    "vat_missing": 0.004,
    "low_confidence": 0.015,
    "missing_total": 0.008,
    "missing_consumption": 0.005,
    "unit_price_mwh": 0.005,
    "unknown_tariff": 0.005,
    "no_tariff_meta": 0.003,
    "dist_mismatch": 0.005,
    "no_market_price": 0.003,
    "no_identifier": 0.002,
    "extraction_failed": 0.005,
    "line_inconsistent": 0.004,
}
PRICED_MONTHS = tuple(f"{y}-{m:02d}" for y in (2024, 2025) for m in range(1, 13))
ESTIMATE_MONTHS = ("2026-10", "2026-11", "2026-12")  # price rows marked `estimate`
MISSING_MONTH = "2023-06"  # before the price table starts
ESTIMATE_SHARE = 0.02


def _keys(prefix: str, n: int) -> np.ndarray:
    return np.array([f"{prefix}{i:09d}" for i in range(n)], dtype=object)


def synthetic_invoices(
    n: int,
    market: MarketData,
    t: Thresholds,
    seed: int = 0,
    lines_per_invoice: int = 3,
    prefix: str = "SYN",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``n`` invoices (``invoice_frame`` columns and dtypes) and their line items; invoice keys
    are ``prefix`` + a sequence number (give each day its own prefix to keep keys unique)."""
    rng = np.random.default_rng(seed)
    kinds = np.array(["clean", *ANOMALIES], dtype=object)
    shares = np.array([1.0 - sum(ANOMALIES.values()), *ANOMALIES.values()])
    kind = kinds[rng.choice(len(kinds), size=n, p=shares)]

    def is_(name: str) -> np.ndarray:
        return kind == name

    weights = np.array([tr[3] for tr in TARIFFS], dtype=float)
    tariff_ix = rng.choice(len(TARIFFS), size=n, p=weights / weights.sum())
    group = np.array([tr[0] for tr in TARIFFS], dtype=object)[tariff_ix]
    voltage = np.array([tr[1] for tr in TARIFFS], dtype=object)[tariff_ix]
    term = np.array([tr[2] for tr in TARIFFS], dtype=object)[tariff_ix]
    low = np.array([tr[4] for tr in TARIFFS])[tariff_ix]
    high = np.array([tr[5] for tr in TARIFFS])[tariff_ix]
    group[is_("unknown_tariff")] = "ozel_tarife"
    for column in (group, voltage, term):
        column[is_("no_tariff_meta")] = None

    months = np.array(PRICED_MONTHS, dtype=object)
    period = months[rng.integers(0, len(months), size=n)]
    estimated = rng.random(n) < ESTIMATE_SHARE
    period[estimated] = np.array(ESTIMATE_MONTHS, dtype=object)[
        rng.integers(0, len(ESTIMATE_MONTHS), size=int(estimated.sum()))
    ]
    period[is_("no_market_price")] = MISSING_MONTH

    kwh = np.round(low + rng.random(n) * (high - low))
    price = np.round(rng.uniform(2.5, 5.0, size=n), 6)
    frame = pd.DataFrame({"tariff_group": group, "voltage_level": voltage, "tariff_term": term})
    table = market.tariff_prices(frame, pd.Series(period, dtype="object"))
    # A month before the table starts prints the oldest row; special tariffs print none.
    dist = np.where(np.isfinite(table), table, 0.83)
    dist = np.where(is_("unknown_tariff") | is_("no_tariff_meta"), np.nan, dist)
    dist_printed = np.where(is_("dist_mismatch"), np.round(dist * 1.25, 6), dist)
    btv_rate, vat_rate = market.tax.rates_for(pd.Series(group, dtype="object"))

    energy = np.round(kwh * price, 2)
    distribution = np.round(kwh * np.nan_to_num(dist_printed), 2)
    distribution = np.where(np.isfinite(dist_printed), distribution, np.nan)
    two_term = term == "cift_terim"
    demand_qty = np.where(
        two_term, np.maximum(1.0, np.round(kwh / rng.integers(250, 500, n))), np.nan
    )
    demand_price = np.where(two_term, np.round(rng.uniform(60.0, 110.0, n), 2), np.nan)
    demand = np.nan_to_num(demand_qty * demand_price)
    btv = np.round(energy * btv_rate, 2)
    vat = np.round((energy + np.nan_to_num(distribution) + demand + btv) * vat_rate, 2)
    computed = energy + np.nan_to_num(distribution) + demand + btv + vat
    total = np.round(computed, 2)

    m = t.Mismatch
    s2 = rng.uniform(m.RATIO * 1.2, min(m.SEVERE_RATIO, 0.15) * 0.9, n)
    s1 = rng.uniform(max(m.SEVERE_RATIO, t.Validation.HARD_STOP_DELTA / 100) * 1.2, 0.6, n)
    total = np.where(is_("s2_mismatch"), np.round(computed / (1 - s2), 2), total)
    total = np.where(is_("s1_mismatch"), np.round(computed / (1 - s1), 2), total)
    total = np.where(is_("locale_slip"), np.round(computed * 10.0, 2), total)
    total = np.where(is_("vat_missing"), np.round(computed - vat, 2), total)
    total = np.where(is_("missing_total"), np.nan, total)
    kwh = np.where(is_("missing_consumption"), np.nan, kwh)
    price = np.where(is_("unit_price_mwh"), price * 1000.0, price)

    conf = {name: np.round(rng.uniform(0.85, 0.99, n), 2) for name in NUMERIC_FIELDS}
    key_fields = (
        "consumption_kwh",
        "current_active_unit_price_tl_per_kwh",
        "invoice_total_with_vat_tl",
    )
    lowered = rng.integers(0, len(key_fields), n)
    low_conf = np.round(t.Validation.LOW_CONFIDENCE * rng.uniform(0.5, 0.92, n), 2)
    for i, name in enumerate(key_fields):
        pick = (is_("low_confidence") | (is_("s1_mismatch") & (rng.random(n) < 0.3))) & (
            lowered == i
        )
        conf[name] = np.where(pick, low_conf, conf[name])

    yek = np.where(rng.random(n) < 0.4, np.round(kwh * 0.6, 2), np.nan)
    keys = _keys(prefix, n)
    ettn = np.where(rng.random(n) < 0.85, keys, None)
    invoice_no = keys.copy()
    ettn[is_("no_identifier")] = None
    invoice_no[is_("no_identifier")] = None
    supplier = np.array(SUPPLIERS, dtype=object)[rng.integers(0, len(SUPPLIERS), n)]
    values = {
        "consumption_kwh": kwh,
        "current_active_unit_price_tl_per_kwh": price,
        "distribution_unit_price_tl_per_kwh": dist_printed,
        "demand_qty": demand_qty,
        "demand_unit_price_tl_per_unit": demand_price,
        "invoice_total_with_vat_tl": total,
        "energy_total_tl": energy,
        "distribution_total_tl": distribution,
        "btv_tl": btv,
        "vat_tl": vat,
        "yek_amount_tl": yek,
        "payable_tl": total,
    }
    failed = is_("extraction_failed")
    columns: dict[str, Any] = {
        "invoice_key": keys,
        "source_file": np.full(n, "synthetic.jsonl", dtype=object),
        "line_no": np.arange(1, n + 1),
        "status": np.where(failed, "failed", "ok").astype(object),
        "error_code": np.where(failed, "invalid_json", None),
        "error_field": np.full(n, None, dtype=object),
        "error_message": np.where(failed, "Expecting value: line 1 column 1 (char 0)", None),
        "invoice_no": invoice_no,
        "ettn": ettn,
        "supplier": supplier,
        "invoice_date": np.array([f"{p}-05" if p else None for p in period], dtype=object),
        "invoice_period": period,
        "tariff_group": group,
        "voltage_level": voltage,
        "tariff_term": term,
    }
    for name in NUMERIC_FIELDS:
        columns[name] = np.where(failed, np.nan, values[name])
        present = np.isfinite(columns[name])
        columns[f"conf_{name}"] = np.where(present, conf[name], 0.0)
    for name in META_FIELDS:
        columns[name] = np.where(failed, None, columns[name])
    invoices = invoice_frame(pd.DataFrame(columns))

    ok = ~failed
    ok_rows = np.flatnonzero(ok)
    parts = [
        # (label, qty, unit, unit price, amount)
        ("Aktif enerji", kwh, "kWh", price, energy),
        ("Dağıtım", kwh, "kWh", dist_printed, distribution),
        ("KDV", np.full(n, np.nan), None, np.full(n, np.nan), vat),
    ][:lines_per_invoice]
    bad_line = is_("line_inconsistent")
    line_frames = []
    for number, (label, qty, unit, unit_price, amount) in enumerate(parts):
        amount = np.where(bad_line & (number == 0), np.round(amount * 1.1, 2), amount)
        line_frames.append(
            pd.DataFrame(
                {
                    "invoice_key": keys[ok_rows],
                    "line": number,
                    "label": label,
                    "qty": qty[ok_rows],
                    "unit": unit,
                    "unit_price": unit_price[ok_rows],
                    "amount_tl": amount[ok_rows],
                    "confidence": conf["energy_total_tl"][ok_rows],
                }
            )
        )
    lines = line_item_frame(pd.concat(line_frames, ignore_index=True))
    return invoices, lines


def _num(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if number != number else number


def plain_rows(invoices: pd.DataFrame) -> list[dict[str, Any]]:
    """The invoice frame as plain rows (the loop's input, the records' source): the frame's
    categorical label columns hold NaN for a missing label, which a record spells null."""
    labels = [c for c in invoices.columns if isinstance(invoices[c].dtype, pd.CategoricalDtype)]
    plain = invoices.astype({c: "object" for c in labels})
    for column in labels:
        plain[column] = plain[column].where(plain[column].notna(), None)
    return list(plain.to_dict("records"))


def jsonl_lines(invoices: pd.DataFrame, lines: pd.DataFrame) -> Iterator[str]:
    """Each invoice as one extraction record (SPEC §4.1) on one line; failed rows as broken JSON."""
    by_key: dict[str, list[dict[str, Any]]] = {}
    for row in lines.to_dict("records"):
        by_key.setdefault(row["invoice_key"], []).append(
            {
                "label": row["label"],
                "qty": _num(row["qty"]),
                "unit": row["unit"],
                "unit_price": _num(row["unit_price"]),
                "amount_tl": _num(row["amount_tl"]),
                "confidence": float(row["confidence"]),
            }
        )
    dumps = json.JSONEncoder(ensure_ascii=False).encode
    for row in plain_rows(invoices):
        if row["status"] != "ok":
            yield '{"schema_version": 1, "invoice": {"supplier": "cut'
            continue
        extraction = {}
        for name in NUMERIC_FIELDS:
            value = _num(row[name])
            if value is not None:
                extraction[name] = {"value": value, "confidence": float(row[f"conf_{name}"])}
        record = {
            "schema_version": 1,
            "invoice": {name: row[name] for name in META_FIELDS},
            "extraction": extraction,
            "line_items": by_key.get(row["invoice_key"], []),
        }
        yield dumps(record)
