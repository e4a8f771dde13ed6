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


def normalise_label(values: pd.Series) -> pd.Series:
    """Tariff labels compared case- and diacritic-insensitively (``Tarımsal`` = ``tarimsal``)."""
    text = values.astype("object").where(values.notna(), None)
    out = text.map(
        lambda v: (
            None if v is None else str(v).translate(_TR_ASCII).strip().lower().replace(" ", "_")
        ),
        na_action="ignore",
    )
    return out.astype("object")


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
        return pd.DataFrame(
            {
                "ptf_tl_per_mwh": period.map(table["ptf_tl_per_mwh"]).astype("float64").to_numpy(),
                "yekdem_tl_per_mwh": period.map(table["yekdem_tl_per_mwh"])
                .astype("float64")
                .to_numpy(),
                "price_source": period.map(table["source"]).astype("object").to_numpy(),
            }
        )

    def tariff_prices(self, invoices: pd.DataFrame, period: pd.Series) -> np.ndarray:
        """Tariff-table distribution price (TL/kWh) valid at each invoice period, NaN if none."""
        n = len(invoices)
        out = np.full(n, np.nan)
        if n == 0 or self.tariffs.empty:
            return out
        start = pd.to_datetime(period.astype("object") + "-01", errors="coerce", format="%Y-%m-%d")
        left = pd.DataFrame({k: normalise_label(invoices[k]) for k in TARIFF_KEYS})
        left["at"] = start.to_numpy()
        left["row"] = np.arange(n)
        left = left.dropna()
        if left.empty:
            return out
        table = self.tariffs.copy()
        for key in TARIFF_KEYS:
            table[key] = normalise_label(table[key])
        table["at"] = pd.to_datetime(table["valid_from"])
        merged = pd.merge_asof(
            left.sort_values("at"),
            table.sort_values("at")[[*TARIFF_KEYS, "at", "dist_tl_per_kwh"]],
            on="at",
            by=list(TARIFF_KEYS),
            direction="backward",
        )
        out[merged["row"].to_numpy()] = merged["dist_tl_per_kwh"].astype("float64").to_numpy()
        return out
