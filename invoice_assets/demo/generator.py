"""Offline demo data (``invoice-ops demo``): seeded, realistic pre-extracted invoices.

``generate_demo`` writes one extraction record (SPEC §4.1) per invoice into ``<inbox>/<day>/``,
plus exactly one malformed file per day, and returns a ``DemoManifest`` that records which anomaly
was injected into which file and which incident (primary flag and severity) the SPEC rules of
§5.1–§5.5 predict for it. The manifest is also written to ``<inbox>/.demo_manifest.json`` (hidden,
at the inbox root, so the pipeline never reads it). A test feeds the files through the real
pipeline and compares what it found with what was injected.

Injected anomalies (20 % of a day's invoices, rounded; a day of 10 or more invoices holds every
type at least once, so a day of 10–24 holds five): ``s2_mismatch``, ``s1_mismatch``,
``low_confidence``, ``missing_fields``, ``unknown_tariff`` and, once per day, ``malformed``. This
module decides which file gets which; ``records.py`` builds each record (and says what a clean
invoice looks like), ``rules.py`` places the magnitudes inside the live thresholds' windows and
predicts the incidents from the printed numbers with the SPEC rules, never by running the pipeline,
and ``output.py`` prints the bytes.

Same seed and arguments give byte-identical files. Not for: tests of single rules (the domain
tests build targeted records) or benchmarks of extraction.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from invoice_assets.demo.output import dump_record, encode, invoice_key, write_atomic
from invoice_assets.demo.records import invoice_record, malformed_record, month_facts
from invoice_assets.domain.flags import CATALOGUE
from invoice_assets.domain.market import MarketData
from invoice_assets.domain.suppliers import SupplierDirectory

if TYPE_CHECKING:
    from invoice_assets.domain.thresholds import Thresholds

MANIFEST_NAME = ".demo_manifest.json"
ANOMALIES = ("s2_mismatch", "s1_mismatch", "low_confidence", "missing_fields", "unknown_tariff")
MALFORMED = "malformed"
ANOMALY_SHARE = 0.20  # share of a day's invoices that carry an injected anomaly
ALL_TYPES_FROM = 10  # a day with at least this many invoices holds every anomaly type
MAX_PER_DAY = 999_999  # invoice numbers hold six digits of per-day sequence
_DEMO_FILE = re.compile(r"^inv-\d{6,}(-broken)?\.json$")


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
        rows = ",\n".join(encode({n: getattr(inv, n) for n in names}) for inv in self.invoices)
        return f'{{"seed": {self.seed}, "invoices": [\n{rows}\n]}}\n'

    @classmethod
    def from_json(cls, text: str | bytes) -> DemoManifest:
        body = json.loads(text)
        return cls(
            seed=int(body["seed"]),
            invoices=tuple(DemoInvoice(**inv) for inv in body["invoices"]),
        )


def generate_demo(
    inbox: Path,
    days: Sequence[str],
    invoices_per_day: int,
    seed: int = 7,
    *,
    market: MarketData | None = None,
    thresholds: Thresholds | None = None,
    suppliers: SupplierDirectory | None = None,
) -> DemoManifest:
    """Write the demo invoices of ``days`` into ``inbox`` and return (and write) the manifest.

    ``market``, ``thresholds`` and ``suppliers`` default to the shipped config
    (``load_market_data()``, ``load_thresholds()``, ``load_suppliers()``). Demo files of an
    earlier run that this run does not rewrite (``inv-*.json`` in the same day folders) are
    removed, so a day folder holds exactly this run's files; anything else in the inbox is left
    alone.
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
    if suppliers is None:
        from resources.suppliers import load_suppliers

        suppliers = load_suppliers()

    inbox = Path(inbox)
    entries: list[DemoInvoice] = []
    number = 0
    for day in parsed_days:
        rng = random.Random(f"invoice-assets-demo:{seed}:{day.isoformat()}")
        month = month_facts(market, _previous_month(day))
        plan = _plan_anomalies(rng, invoices_per_day)
        folder = inbox / day.isoformat()
        folder.mkdir(parents=True, exist_ok=True)
        written: set[str] = set()
        for index, anomaly in enumerate(plan):
            number += 1
            name = f"inv-{number:06d}.json"
            record, expected = invoice_record(rng, day, index, month, anomaly, thresholds)
            write_atomic(folder / name, dump_record(record))
            written.add(name)
            entries.append(
                DemoInvoice(
                    day=day.isoformat(),
                    file_name=name,
                    invoice_key=invoice_key(record, suppliers),
                    supplier=record["invoice"]["supplier"],
                    anomaly=anomaly,
                    expected_primary_flag=expected[0] if expected else None,
                    expected_severity=expected[1] if expected else None,
                )
            )
        number += 1
        name = f"inv-{number:06d}-broken.json"
        write_atomic(folder / name, malformed_record(rng, day, len(plan), month, thresholds))
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
    write_atomic(inbox / MANIFEST_NAME, manifest.to_json().encode("utf-8"))
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
