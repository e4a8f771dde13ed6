"""Market data the pricing rules read: PTF/YEKDEM by month, distribution tariffs, tax rates.

A plain value object built by ``resources/market_data.py`` from the files in ``config/``; the
domain never reads files. Lookups are vectorised joins over the invoice frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

_TR_ASCII = str.maketrans("ıİşŞğĞüÜöÖçÇ", "iIsSgGuUoOcC")
TARIFF_KEYS = ("tariff_group", "voltage_level", "tariff_term")


def _normalise_one(value: object) -> str:
    return str(value).translate(_TR_ASCII).strip().lower().replace(" ", "_")


def normalise_label(values: pd.Series) -> pd.Series:
    """Tariff labels compared case- and diacritic-insensitively (``Tarımsal`` = ``tarimsal``).

    Normalises each distinct label once (a partition has a handful), then maps them back.
    """
    codes, uniques = pd.factorize(values.astype("object"), use_na_sentinel=True)
    labels = np.array([_normalise_one(u) for u in uniques] + [None], dtype=object)
    return pd.Series(labels[codes], index=values.index, dtype="object")


@dataclass(frozen=True)
class TaxRates:
    """BTV and VAT rates; a tariff group without its own rate takes the default."""

    btv_default: float
    vat_default: float
    btv_by_group: dict[str, float] = field(default_factory=dict)
    vat_by_group: dict[str, float] = field(default_factory=dict)

    def rates_for(self, tariff_group: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        group = normalise_label(tariff_group)
        btv = group.map(self.btv_by_group).astype("float64").fillna(self.btv_default)
        vat = group.map(self.vat_by_group).astype("float64").fillna(self.vat_default)
        return btv.to_numpy(), vat.to_numpy()


@dataclass(frozen=True)
class MarketData:
    """Monthly prices (TL/MWh), the distribution tariff table (TL/kWh) and tax rates."""

    prices: pd.DataFrame  # month (YYYY-MM), ptf_tl_per_mwh, yekdem_tl_per_mwh, source
    tariffs: pd.DataFrame  # valid_from (date), tariff_group, voltage_level, tariff_term, ...
    tax: TaxRates
    agreement_multiplier: float

    def month_prices(self, period: pd.Series) -> pd.DataFrame:
        """PTF, YEKDEM and source for each invoice period (NaN/None where no row exists)."""
        table = self.prices.drop_duplicates("month", keep="last").set_index("month")
        codes, months = pd.factorize(period.astype("object"), use_na_sentinel=True)
        found = table.reindex(pd.Index(months, dtype="object"))  # one lookup per distinct month

        def spread(values: np.ndarray, fill: object, dtype: str) -> np.ndarray:
            return np.append(values.astype(dtype), np.array([fill], dtype=dtype))[codes]

        return pd.DataFrame(
            {
                "ptf_tl_per_mwh": spread(found["ptf_tl_per_mwh"].to_numpy(), np.nan, "float64"),
                "yekdem_tl_per_mwh": spread(
                    found["yekdem_tl_per_mwh"].to_numpy(), np.nan, "float64"
                ),
                "price_source": spread(found["source"].to_numpy(), None, "object"),
            }
        )

    def tariff_prices(self, invoices: pd.DataFrame, period: pd.Series) -> np.ndarray:
        """Tariff-table distribution price (TL/kWh) valid at each invoice period, NaN if none.

        The as-of lookup runs once per distinct (tariff, period) combination, then is spread
        back to the invoices: a day holds a handful of combinations, not one per invoice.
        """
        n = len(invoices)
        out = np.full(n, np.nan)
        if n == 0 or self.tariffs.empty:
            return out
        keys = pd.DataFrame({k: normalise_label(invoices[k]) for k in TARIFF_KEYS})
        keys["period"] = period.astype("object").to_numpy()
        combos = keys.drop_duplicates().dropna().reset_index(drop=True)
        if combos.empty:
            return out
        combos["at"] = pd.to_datetime(combos["period"] + "-01", errors="coerce", format="%Y-%m-%d")
        combos = combos.dropna(subset=["at"])
        table = self.tariffs.copy()
        for key in TARIFF_KEYS:
            table[key] = normalise_label(table[key])
        table["at"] = pd.to_datetime(table["valid_from"])
        merged = pd.merge_asof(
            combos.sort_values("at"),
            table.sort_values("at")[[*TARIFF_KEYS, "at", "dist_tl_per_kwh"]],
            on="at",
            by=list(TARIFF_KEYS),
            direction="backward",
        )
        lookup = merged.set_index([*TARIFF_KEYS, "period"])["dist_tl_per_kwh"]
        lookup = lookup[~lookup.index.duplicated()]
        index = pd.MultiIndex.from_frame(keys[[*TARIFF_KEYS, "period"]])
        return lookup.reindex(index).to_numpy(dtype="float64", na_value=np.nan)
