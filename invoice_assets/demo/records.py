"""One demo invoice: the extraction record (SPEC §4.1) the demo generator writes for an invoice
slot, with the anomaly of that slot injected, and the incident the SPEC rules predict for it.

What a clean invoice looks like: a Turkish supplier, a tariff that exists in
``config/distribution_tariffs.csv``, the billing month before the inbox day, the tariff-table
distribution price for that month, and printed parts (energy, distribution, demand, BTV, VAT)
rounded to kuruş that add up to the printed total exactly the way ``domain/breakdown.py`` adds them,
so rounding stays far below the ROUNDING thresholds. Its only possible flag is the S3
MARKET_PRICE_ESTIMATED (a month whose price row is an ``estimate``), or MARKET_PRICE_MISSING (S1)
when the month has no price row at all; the expectations account for both.

Every draw comes from the ``rng`` passed in, in a fixed order: changing the order of draws here
changes every demo file of a seed. Not for: choosing which slot gets which anomaly, writing files
or the manifest (``generator.py``); magnitudes and predictions (``rules.py``); the JSON layout
(``output.py``).
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import pandas as pd

from invoice_assets.demo.output import dump_record, evidence, line_item
from invoice_assets.demo.rules import expected_incident, inflate, s1_window, s2_window
from invoice_assets.domain.market import TARIFF_KEYS, MarketData, normalise_label
from invoice_assets.domain.records import KEY_FIELDS, NUMERIC_FIELDS

if TYPE_CHECKING:
    from invoice_assets.domain.thresholds import Thresholds

ETTN_SHARE = 0.85  # invoices that carry an e-invoice UUID (the others: invoice_no only)
YEK_SHARE = 0.40  # invoices that print a YEK (renewable support) charge

SUPPLIERS: tuple[tuple[str, str], ...] = (  # (name, e-invoice number prefix)
    ("Enerjisa", "EJS"),
    ("CK Enerji", "CKE"),
    ("Aydem Perakende", "ADM"),
    ("Gediz Elektrik", "GDZ"),
    ("Uludağ Elektrik", "ULD"),
    ("Başkent Elektrik", "BSK"),
    ("Toroslar Elektrik", "TRS"),
    ("Dicle Elektrik", "DCL"),
)


@dataclass(frozen=True)
class _Tariff:
    group: str
    voltage: str
    term: str
    weight: int
    kwh: tuple[int, int]  # monthly consumption range

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.group, self.voltage, self.term)


TARIFFS: tuple[_Tariff, ...] = (
    _Tariff("mesken", "AG", "tek_terim", 35, (150, 600)),
    _Tariff("ticarethane", "AG", "tek_terim", 30, (1_000, 20_000)),
    _Tariff("sanayi", "OG", "tek_terim", 15, (20_000, 500_000)),
    _Tariff("sanayi", "OG", "cift_terim", 8, (20_000, 500_000)),
    _Tariff("tarimsal", "AG", "tek_terim", 12, (2_000, 50_000)),
)
# A tariff the table does not know (a special contract): TARIFF_LOOKUP_FAILED when no price is read.
UNKNOWN_TARIFF = _Tariff("ozel_tarife", "AG", "tek_terim", 0, (1_000, 20_000))
UNIT_PRICE_TL_PER_KWH = (2.5, 5.0)
CONFIDENCE = (0.85, 0.99)
LOW_CONFIDENCE_SHARE = (0.5, 0.92)  # an injected low confidence, as a share of LOW_CONFIDENCE
DEMAND_UNIT_PRICE_TL_PER_KW = (60.0, 110.0)
DEMAND_HOURS = (250, 500)  # kWh / contracted kW (load factor)
FALLBACK_YEKDEM_TL_PER_MWH = 600.0  # a YEK charge for months without a market row

_KEY_FIELDS = KEY_FIELDS
_FIELD_ORDER = NUMERIC_FIELDS
_TOTAL_FIELDS = frozenset({"invoice_total_with_vat_tl", "payable_tl"})
_PAGE_ONE = frozenset({"consumption_kwh", "invoice_total_with_vat_tl", "payable_tl"})


@dataclass(frozen=True)
class Month:
    """What the market data says about one billing month."""

    period: str
    has_market_price: bool
    yekdem_tl_per_mwh: float
    dist: dict[tuple[str, str, str], float]  # tariff-table price per tariff key
    btv: dict[str, float]  # tax rates per tariff group
    vat: dict[str, float]


def month_facts(market: MarketData, period: str) -> Month:
    """Market price availability, tariff-table prices and tax rates for one billing month."""
    prices = market.month_prices(pd.Series([period], dtype="object"))
    has_price = bool(pd.notna(prices["ptf_tl_per_mwh"].iloc[0]))
    yekdem = float(prices["yekdem_tl_per_mwh"].iloc[0]) if has_price else None
    frame = pd.DataFrame([t.key for t in TARIFFS], columns=list(TARIFF_KEYS))
    table = market.tariff_prices(frame, pd.Series([period] * len(TARIFFS), dtype="object"))
    dist: dict[tuple[str, str, str], float] = {}
    for tariff, price in zip(TARIFFS, table, strict=True):
        dist[tariff.key] = float(price) if pd.notna(price) else _earliest_row(market, tariff)
    groups = [t.group for t in (*TARIFFS, UNKNOWN_TARIFF)]
    btv, vat = market.tax.rates_for(pd.Series(groups, dtype="object"))
    return Month(
        period=period,
        has_market_price=has_price,
        yekdem_tl_per_mwh=yekdem if yekdem is not None else FALLBACK_YEKDEM_TL_PER_MWH,
        dist=dist,
        btv={g: float(r) for g, r in zip(groups, btv, strict=True)},
        vat={g: float(r) for g, r in zip(groups, vat, strict=True)},
    )


def _earliest_row(market: MarketData, tariff: _Tariff) -> float:
    """A month before the table starts prints the oldest known price (no row → extracted price)."""
    table = market.tariffs
    match = pd.Series(True, index=table.index)
    for column, value in zip(TARIFF_KEYS, tariff.key, strict=True):
        wanted = normalise_label(pd.Series([value], dtype="object")).iloc[0]
        match &= normalise_label(table[column]) == wanted
    rows = table[match].sort_values("valid_from")
    if rows.empty:
        raise ValueError(f"tariff {tariff.key} is not in the distribution tariff table")
    return float(rows["dist_tl_per_kwh"].iloc[0])


def invoice_record(
    rng: random.Random,
    day: date,
    index: int,
    month: Month,
    anomaly: str | None,
    t: Thresholds,
) -> tuple[dict[str, Any], tuple[str, str] | None]:
    """One extraction record and its expected (primary flag, severity), None = no incident."""
    supplier, prefix = rng.choice(SUPPLIERS)
    tariff = UNKNOWN_TARIFF if anomaly == "unknown_tariff" else _pick_tariff(rng)
    dist_price = None if anomaly == "unknown_tariff" else month.dist[tariff.key]
    btv_rate, vat_rate = month.btv[tariff.group], month.vat[tariff.group]

    kwh = rng.randint(*tariff.kwh)
    price = round(rng.uniform(*UNIT_PRICE_TL_PER_KWH), 6)
    energy = round(kwh * price, 2)
    distribution = round(kwh * dist_price, 2) if dist_price is not None else None
    demand_qty = demand_price = None
    demand_exact = demand = 0.0
    if tariff.term == "cift_terim":
        demand_qty = max(1, round(kwh / rng.randint(*DEMAND_HOURS)))
        demand_price = round(rng.uniform(*DEMAND_UNIT_PRICE_TL_PER_KW), 2)
        demand_exact = demand_qty * demand_price
        demand = round(demand_exact, 2)
    btv = round(energy * btv_rate, 2)
    vat = round((energy + (distribution or 0.0) + demand + btv) * vat_rate, 2)
    printed_total = round(energy + (distribution or 0.0) + demand + btv + vat, 2)
    # What the breakdown adds up from the printed parts (demand is qty × price, unrounded).
    computed = energy + (distribution or 0.0) + demand_exact + btv + vat

    total: float | None = printed_total
    if anomaly == "s2_mismatch":
        total = inflate(rng, computed, s2_window(t), t.Mismatch.ABSOLUTE, vat)
    elif anomaly == "s1_mismatch":
        total = inflate(rng, computed, s1_window(t), t.Mismatch.SEVERE_ABSOLUTE, vat)
    elif anomaly == "missing_fields":
        total = None

    conf = {name: _confidence(rng) for name in _FIELD_ORDER}
    if anomaly == "low_confidence":
        field = rng.choice(_KEY_FIELDS)
        low, high = LOW_CONFIDENCE_SHARE
        conf[field] = round(t.Validation.LOW_CONFIDENCE * rng.uniform(low, high), 2)

    yek = None
    if rng.random() < YEK_SHARE:
        yek = round(kwh * month.yekdem_tl_per_mwh / 1000.0, 2)

    invoice_date = day.replace(day=rng.randint(min(2, day.day), min(8, day.day)))
    sequence = day.timetuple().tm_yday * 1_000_000 + index + 1
    ettn = (
        str(uuid.UUID(int=rng.getrandbits(128), version=4)) if rng.random() < ETTN_SHARE else None
    )
    meta = {
        "invoice_no": f"{prefix}{day.year:04d}{sequence:09d}",
        "ettn": ettn,
        "supplier": supplier,
        "invoice_date": invoice_date.isoformat(),
        "invoice_period": month.period,
        "tariff_group": tariff.group,
        "voltage_level": tariff.voltage,
        "tariff_term": tariff.term,
    }
    values: dict[str, float | None] = {
        "consumption_kwh": kwh,
        "current_active_unit_price_tl_per_kwh": price,
        "distribution_unit_price_tl_per_kwh": dist_price,
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
    extraction: dict[str, dict[str, Any]] = {}
    for name in _FIELD_ORDER:
        value = values[name]
        if value is None:
            if anomaly == "missing_fields" and name in _TOTAL_FIELDS:
                extraction[name] = {"value": None, "confidence": 0.0}  # looked for, not read
            continue  # not printed on this invoice: the field is absent
        extraction[name] = {
            "value": value,
            "confidence": conf[name],
            "evidence": evidence(name, value),
            "page": 1 if name in _PAGE_ONE else 2,
        }
    line_conf = round(min(conf["energy_total_tl"], conf["consumption_kwh"]), 2)
    lines = [line_item("Aktif enerji", kwh, "kWh", price, energy, line_conf)]
    if dist_price is not None and distribution is not None:
        lines.append(line_item("Dağıtım", kwh, "kWh", dist_price, distribution, line_conf))
    if demand_qty is not None and demand_price is not None:
        lines.append(line_item("Güç bedeli", demand_qty, "kW", demand_price, demand, line_conf))
    lines.append(line_item("Elektrik tüketim vergisi (BTV)", None, None, None, btv, line_conf))
    lines.append(line_item(f"KDV (%{vat_rate * 100:g})", None, None, None, vat, line_conf))
    record = {"schema_version": 1, "invoice": meta, "extraction": extraction, "line_items": lines}
    expected = expected_incident(
        total=total,
        computed=computed,
        market_missing=not month.has_market_price,
        lookup_failed=dist_price is None,
        t=t,
    )
    return record, expected


def _pick_tariff(rng: random.Random) -> _Tariff:
    return rng.choices(TARIFFS, weights=[t.weight for t in TARIFFS])[0]


def _confidence(rng: random.Random) -> float:
    return round(rng.uniform(*CONFIDENCE), 2)


def malformed_record(
    rng: random.Random, day: date, index: int, month: Month, t: Thresholds
) -> bytes:
    """A record cut off mid-write (truncated JSON): EXTRACTION_FAILED / invalid_json."""
    record, _ = invoice_record(rng, day, index, month, None, t)
    raw = dump_record(record)
    cut = raw[: rng.randint(len(raw) // 3, 2 * len(raw) // 3)]
    return cut.decode("utf-8", "ignore").encode("utf-8")  # cut between characters: invalid JSON
