"""Market lookups for the per-invoice loop of ``loop_baseline``: month prices, tariffs and tax
rates prepared once per batch as dicts and sorted lists, with each distinct label looked up once.
Bench-only, the loop's counterpart of ``invoice_assets.domain.market``.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Mapping
from datetime import date
from typing import TYPE_CHECKING, Any

from invoice_assets.domain.market import TARIFF_KEYS

if TYPE_CHECKING:
    from invoice_assets.domain.market import MarketData
    from invoice_assets.domain.thresholds import Thresholds

NAN = math.nan
_TR_ASCII = str.maketrans("ıİşŞğĞüÜöÖçÇ", "iIsSgGuUoOcC")


def label(value: Any) -> str | None:
    if value is None:
        return None
    return str(value).translate(_TR_ASCII).strip().lower().replace(" ", "_")


class Context:
    """Market lookups prepared once per batch (dicts and sorted lists)."""

    def __init__(self, market: MarketData, t: Thresholds) -> None:
        self.t = t
        self.multiplier = market.agreement_multiplier
        self.months: dict[str, tuple[float, float, str]] = {}
        for row in market.prices.to_dict("records"):
            self.months[row["month"]] = (
                float(row["ptf_tl_per_mwh"]),
                float(row["yekdem_tl_per_mwh"]),
                row["source"],
            )
        tariffs: dict[tuple, list[tuple[date, float]]] = {}
        for row in market.tariffs.to_dict("records"):
            key = tuple(label(row[k]) for k in TARIFF_KEYS)
            valid = row["valid_from"]
            tariffs.setdefault(key, []).append((valid.date(), float(row["dist_tl_per_kwh"])))
        self.tariff_dates = {k: [d for d, _ in sorted(v)] for k, v in tariffs.items()}
        self.tariff_prices = {k: [p for _, p in sorted(v)] for k, v in tariffs.items()}
        self.tax = market.tax
        # A sensible loop remembers the lookups it has done: a day has a handful of distinct
        # tariff labels and periods, so each is normalised and looked up once.
        self._tariffs: dict[tuple, float] = {}
        self._rates: dict[Any, tuple[float, float]] = {}

    def month(self, period: str | None) -> tuple[float, float, str | None]:
        if period is None:
            return NAN, NAN, None
        return self.months.get(period, (NAN, NAN, None))

    def tariff(self, invoice: Mapping[str, Any], period: str | None) -> float:
        raw = (*(invoice[k] for k in TARIFF_KEYS), period)
        found = self._tariffs.get(raw)
        if found is None:
            found = self._tariffs[raw] = self._tariff(raw[:-1], period)
        return found

    def _tariff(self, labels: tuple, period: str | None) -> float:
        key = tuple(label(raw) for raw in labels)
        if period is None or any(part is None for part in key):
            return NAN
        try:
            at = date(int(period[:4]), int(period[5:7]), 1)
        except ValueError:
            return NAN
        dates = self.tariff_dates.get(key)
        if not dates:
            return NAN
        index = bisect_right(dates, at) - 1
        return self.tariff_prices[key][index] if index >= 0 else NAN

    def rates(self, tariff_group: Any) -> tuple[float, float]:
        found = self._rates.get(tariff_group)
        if found is None:
            found = self._rates[tariff_group] = self._group_rates(tariff_group)
        return found

    def _group_rates(self, tariff_group: Any) -> tuple[float, float]:
        group = label(tariff_group)
        return (
            self.tax.btv_by_group.get(group, self.tax.btv_default),  # type: ignore[arg-type]
            self.tax.vat_by_group.get(group, self.tax.vat_default),  # type: ignore[arg-type]
        )
