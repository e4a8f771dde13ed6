"""Offline demo data (``invoice-ops demo``): seeded, realistic pre-extracted invoices.

``generate_demo`` writes one extraction record (SPEC §4.1) per invoice into ``<inbox>/<day>/``,
plus exactly one malformed file per day, and returns a ``DemoManifest`` that records which anomaly
was injected into which file and which incident (primary flag and severity) the SPEC rules of
§5.1–§5.5 predict for it. The manifest is also written to ``<inbox>/.demo_manifest.json`` (hidden,
at the inbox root, so the pipeline never reads it). A test feeds the files through the real
pipeline and compares what it found with what was injected.

What a clean invoice looks like: a Turkish supplier, a tariff that exists in
``config/distribution_tariffs.csv``, the billing month before the inbox day, the tariff-table
distribution price for that month, and printed parts (energy, distribution, demand, BTV, VAT)
rounded to kuruş that add up to the printed total exactly the way ``domain/breakdown.py`` adds them,
so rounding stays far below the ROUNDING thresholds. Its only possible flag is the S3
MARKET_PRICE_ESTIMATED (a month whose price row is an ``estimate``), or MARKET_PRICE_MISSING (S1)
when the month has no price row at all; the expectations account for both.

Injected anomalies (20 % of a day's invoices, rounded; a day of 10 or more invoices holds every
type at least once, so a day of 10–24 holds five): ``s2_mismatch``, ``s1_mismatch``,
``low_confidence``, ``missing_fields``, ``unknown_tariff`` and, once per day, ``malformed``. Their
magnitudes are placed inside the live thresholds' windows, and the expectations are computed here
from the printed numbers with the SPEC rules, never by running the pipeline.

Same seed and arguments give byte-identical files. Not for: tests of single rules (the domain
tests build targeted records) or benchmarks of extraction.
"""

from __future__ import annotations

import json
import os
import random
import re
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from invoice_assets.domain.flags import CATALOGUE
from invoice_assets.domain.market import TARIFF_KEYS, MarketData, normalise_label
from invoice_assets.domain.mismatch import LINE_ITEM_MISSING_SHARE, MIN_DENOMINATOR_TL
from invoice_assets.domain.records import KEY_FIELDS, NUMERIC_FIELDS

if TYPE_CHECKING:
    from resources.thresholds import Thresholds

MANIFEST_NAME = ".demo_manifest.json"
ANOMALIES = ("s2_mismatch", "s1_mismatch", "low_confidence", "missing_fields", "unknown_tariff")
MALFORMED = "malformed"
ANOMALY_SHARE = 0.20  # share of a day's invoices that carry an injected anomaly
ALL_TYPES_FROM = 10  # a day with at least this many invoices holds every anomaly type
ETTN_SHARE = 0.85  # invoices that carry an e-invoice UUID (the others: invoice_no only)
YEK_SHARE = 0.40  # invoices that print a YEK (renewable support) charge
MAX_PER_DAY = 999_999  # invoice numbers hold six digits of per-day sequence
_DEMO_FILE = re.compile(r"^inv-\d{6,}(-broken)?\.json$")

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


@dataclass(frozen=True)
class DemoInvoice:
    """One generated inbox file and the incident the SPEC rules predict for it."""

    day: str
    file_name: str
    invoice_key: str | None  # None for the malformed file (its key is the sha256 of its bytes)
    supplier: str | None
    anomaly: str | None  # None = clean
    expected_primary_flag: str | None  # None = no incident expected
    expected_severity: str | None


@dataclass(frozen=True)
class DemoManifest:
    """What ``generate_demo`` wrote and injected, in file order."""

    seed: int
    invoices: tuple[DemoInvoice, ...]

    def counts(self) -> dict[str, int]:
        """Files per anomaly type (``clean`` for none), sorted by name."""
        counter = Counter(inv.anomaly or "clean" for inv in self.invoices)
        return dict(sorted(counter.items()))

    def expected_incidents(self) -> int:
        return sum(inv.expected_primary_flag is not None for inv in self.invoices)

    def expected_by_primary_flag(self) -> dict[str, int]:
        counter = Counter(
            inv.expected_primary_flag for inv in self.invoices if inv.expected_primary_flag
        )
        return dict(sorted(counter.items()))

    def to_json(self) -> str:
        """``{"seed": .., "invoices": [..]}`` with one invoice per line."""
        names = [f.name for f in fields(DemoInvoice)]
        rows = ",\n".join(_enc({n: getattr(inv, n) for n in names}) for inv in self.invoices)
        return f'{{"seed": {self.seed}, "invoices": [\n{rows}\n]}}\n'

    @classmethod
    def from_json(cls, text: str | bytes) -> DemoManifest:
        body = json.loads(text)
        return cls(
            seed=int(body["seed"]),
            invoices=tuple(DemoInvoice(**inv) for inv in body["invoices"]),
        )


@dataclass(frozen=True)
class _Month:
    """What the market data says about one billing month."""

    period: str
    has_market_price: bool
    yekdem_tl_per_mwh: float
    dist: dict[tuple[str, str, str], float]  # tariff-table price per tariff key
    btv: dict[str, float]  # tax rates per tariff group
    vat: dict[str, float]


def generate_demo(
    inbox: Path,
    days: Sequence[str],
    invoices_per_day: int,
    seed: int = 7,
    *,
    market: MarketData | None = None,
    thresholds: Thresholds | None = None,
) -> DemoManifest:
    """Write the demo invoices of ``days`` into ``inbox`` and return (and write) the manifest.

    ``market`` and ``thresholds`` default to the shipped config (``load_market_data()``,
    ``load_thresholds()``). Demo files of an earlier run that this run does not rewrite
    (``inv-*.json`` in the same day folders) are removed, so a day folder holds exactly this run's
    files; anything else in the inbox is left alone.
    """
    if invoices_per_day < 0 or invoices_per_day > MAX_PER_DAY:
        raise ValueError(f"invoices_per_day must be in 0..{MAX_PER_DAY}, got {invoices_per_day}")
    parsed_days = [_parse_day(day) for day in days]
    if len(set(parsed_days)) != len(parsed_days):
        raise ValueError("days must be distinct")
    if market is None:
        from resources.market_data import load_market_data

        market = load_market_data()
    if thresholds is None:
        from resources.thresholds import load_thresholds

        thresholds = load_thresholds()

    inbox = Path(inbox)
    entries: list[DemoInvoice] = []
    number = 0
    for day in parsed_days:
        rng = random.Random(f"invoice-assets-demo:{seed}:{day.isoformat()}")
        month = _month(market, _previous_month(day))
        plan = _plan_anomalies(rng, invoices_per_day)
        folder = inbox / day.isoformat()
        folder.mkdir(parents=True, exist_ok=True)
        written: set[str] = set()
        for index, anomaly in enumerate(plan):
            number += 1
            name = f"inv-{number:06d}.json"
            record, expected = _invoice(rng, day, index, month, anomaly, thresholds)
            _write(folder / name, _dump(record))
            written.add(name)
            entries.append(
                DemoInvoice(
                    day=day.isoformat(),
                    file_name=name,
                    invoice_key=_key(record),
                    supplier=record["invoice"]["supplier"],
                    anomaly=anomaly,
                    expected_primary_flag=expected[0] if expected else None,
                    expected_severity=expected[1] if expected else None,
                )
            )
        number += 1
        name = f"inv-{number:06d}-broken.json"
        _write(folder / name, _malformed(rng, day, len(plan), month, thresholds))
        written.add(name)
        entries.append(
            DemoInvoice(
                day=day.isoformat(),
                file_name=name,
                invoice_key=None,
                supplier=None,
                anomaly=MALFORMED,
                expected_primary_flag="EXTRACTION_FAILED",
                expected_severity=CATALOGUE["EXTRACTION_FAILED"].severity,
            )
        )
        for stale in folder.iterdir():
            if stale.is_file() and _DEMO_FILE.match(stale.name) and stale.name not in written:
                stale.unlink()
    manifest = DemoManifest(seed=seed, invoices=tuple(entries))
    _write(inbox / MANIFEST_NAME, manifest.to_json().encode("utf-8"))
    return manifest


# --- planning --------------------------------------------------------------------------------


def _parse_day(day: str) -> date:
    parsed = date.fromisoformat(day)
    if len(day) != 10:
        raise ValueError(f"day must be YYYY-MM-DD, got {day!r}")
    return parsed


def _previous_month(day: date) -> str:
    year, month = (day.year, day.month - 1) if day.month > 1 else (day.year - 1, 12)
    return f"{year:04d}-{month:02d}"


def _plan_anomalies(rng: random.Random, n: int) -> list[str | None]:
    """The anomaly of each invoice slot of a day (None = clean), in file order."""
    count = round(ANOMALY_SHARE * n)
    if n >= ALL_TYPES_FROM:
        count = max(count, len(ANOMALIES))
        kinds = [*ANOMALIES, *(rng.choice(ANOMALIES) for _ in range(count - len(ANOMALIES)))]
    else:
        kinds = [rng.choice(ANOMALIES) for _ in range(count)]
    rng.shuffle(kinds)
    plan: list[str | None] = [None] * n
    for slot, kind in zip(sorted(rng.sample(range(n), count)), kinds, strict=True):
        plan[slot] = kind
    return plan


def _month(market: MarketData, period: str) -> _Month:
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
    return _Month(
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


# --- one invoice ----------------------------------------------------------------------------


def _invoice(
    rng: random.Random,
    day: date,
    index: int,
    month: _Month,
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
        total = _inflate(rng, computed, _s2_window(t), t.Mismatch.ABSOLUTE, vat)
    elif anomaly == "s1_mismatch":
        total = _inflate(rng, computed, _s1_window(t), t.Mismatch.SEVERE_ABSOLUTE, vat)
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
            "evidence": _evidence(name, value),
            "page": 1 if name in _PAGE_ONE else 2,
        }
    line_conf = round(min(conf["energy_total_tl"], conf["consumption_kwh"]), 2)
    lines = [_line("Aktif enerji", kwh, "kWh", price, energy, line_conf)]
    if dist_price is not None and distribution is not None:
        lines.append(_line("Dağıtım", kwh, "kWh", dist_price, distribution, line_conf))
    if demand_qty is not None and demand_price is not None:
        lines.append(_line("Güç bedeli", demand_qty, "kW", demand_price, demand, line_conf))
    lines.append(_line("Elektrik tüketim vergisi (BTV)", None, None, None, btv, line_conf))
    lines.append(_line(f"KDV (%{vat_rate * 100:g})", None, None, None, vat, line_conf))
    record = {"schema_version": 1, "invoice": meta, "extraction": extraction, "line_items": lines}
    expected = _expect(
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


def _s2_window(t: Thresholds) -> tuple[float, float]:
    """Ratios that make an S2 mismatch: at or above RATIO, below every S1, hard-stop and
    missing-line-item boundary (so the delta reason stays an adjustment, not a missing line)."""
    low = t.Mismatch.RATIO
    high = min(LINE_ITEM_MISSING_SHARE, t.Mismatch.SEVERE_RATIO, t.Validation.HARD_STOP_DELTA / 100)
    return _inner(low, high)


def _s1_window(t: Thresholds) -> tuple[float, float]:
    """Ratios that make an S1 mismatch: past SEVERE_RATIO and the hard stop, short of a locale
    slip (a total 10x its parts would read as an OCR separator error)."""
    low = max(t.Mismatch.SEVERE_RATIO, t.Validation.HARD_STOP_DELTA / 100, t.Mismatch.RATIO)
    return low + 0.05, max(low + 0.1, 0.6)


def _inner(low: float, high: float) -> tuple[float, float]:
    """The middle 60 % of [low, high): away from both boundaries."""
    span = max(high - low, 0.0)
    return low + 0.2 * span, high - 0.2 * span


def _inflate(
    rng: random.Random,
    computed: float,
    window: tuple[float, float],
    min_delta: float,
    vat: float,
) -> float:
    """A printed total above its parts by a ratio in ``window`` and at least ``min_delta`` TL.

    ratio = delta / total and total = computed + delta, so total = computed / (1 - ratio). A delta
    close to the VAT would read as a VAT slip, so such a ratio is drawn again.
    """
    low, high = window
    floor = 1.2 * min_delta / (computed + 1.2 * min_delta)  # ratio that gives that delta
    low = min(max(low, floor), high)
    for _ in range(20):
        ratio = rng.uniform(low, high)
        total = round(computed / (1.0 - ratio), 2)
        if abs((total - computed) - vat) > 0.05 * vat:
            break
    return total


def _expect(
    *,
    total: float | None,
    computed: float,
    market_missing: bool,
    lookup_failed: bool,
    t: Thresholds,
) -> tuple[str, str] | None:
    """The incident SPEC §5.1–§5.5 predict: the S1/S2 flag of lowest priority number, or None."""
    flags: list[tuple[str, str]] = []
    ready = True
    if total is None or total <= 0:
        flags.append(("MISSING_FIELDS", CATALOGUE["MISSING_FIELDS"].severity))
        ready = False
    else:
        m = t.Mismatch
        delta = abs(total - computed)
        ratio = delta / max(total, MIN_DENOMINATOR_TL)
        rounding = delta < m.ROUNDING_DELTA and ratio < m.ROUNDING_RATIO
        if not rounding and (ratio >= m.RATIO or delta >= m.ABSOLUTE):
            severe = ratio >= m.SEVERE_RATIO and delta >= m.SEVERE_ABSOLUTE
            flags.append(("INVOICE_TOTAL_MISMATCH", "S1" if severe else "S2"))
        if 100.0 * ratio >= t.Validation.HARD_STOP_DELTA:
            ready = False  # TOTAL_HARD_STOP: pricing stops, no second flag
    if ready and market_missing:
        flags.append(("MARKET_PRICE_MISSING", CATALOGUE["MARKET_PRICE_MISSING"].severity))
    if ready and lookup_failed:
        flags.append(("TARIFF_LOOKUP_FAILED", CATALOGUE["TARIFF_LOOKUP_FAILED"].severity))
    if not flags:
        return None
    return min(flags, key=lambda flag: CATALOGUE[flag[0]].priority)


def _malformed(rng: random.Random, day: date, index: int, month: _Month, t: Thresholds) -> bytes:
    """A record cut off mid-write (truncated JSON): EXTRACTION_FAILED / invalid_json."""
    record, _ = _invoice(rng, day, index, month, None, t)
    raw = _dump(record)
    cut = raw[: rng.randint(len(raw) // 3, 2 * len(raw) // 3)]
    return cut.decode("utf-8", "ignore").encode("utf-8")  # cut between characters: invalid JSON


# --- formatting -------------------------------------------------------------------------------

_KEY_FIELDS = KEY_FIELDS
_FIELD_ORDER = NUMERIC_FIELDS
_TOTAL_FIELDS = frozenset({"invoice_total_with_vat_tl", "payable_tl"})
_PAGE_ONE = frozenset({"consumption_kwh", "invoice_total_with_vat_tl", "payable_tl"})


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


def _evidence(name: str, value: float) -> str:
    label, decimals, unit = _EVIDENCE[name]
    return f"{label}: {_tr(value, decimals)} {unit}"


def _line(
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


def _key(record: dict[str, Any]) -> str:
    """The invoice key of SPEC §4.1 (ettn, else supplier|invoice_no|invoice_period)."""
    meta = record["invoice"]
    if meta["ettn"]:
        return str(meta["ettn"])
    return f"{meta['supplier']}|{meta['invoice_no']}|{meta['invoice_period'] or ''}"


_enc = json.JSONEncoder(ensure_ascii=False).encode


def _dump(record: dict[str, Any]) -> bytes:
    """The record as JSON, one field or line item per line (readable, and C-encoder fast)."""

    enc = _enc

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


def _write(path: Path, content: bytes) -> None:
    """Write via a hidden temporary file and rename, so a watcher never reads half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(content)
    os.replace(tmp, path)
