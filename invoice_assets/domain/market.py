"""Market data the pricing rules read: PTF/YEKDEM by month, distribution tariffs, tax rates.

A plain value object built by ``resources/market_data.py`` from the files in ``config/``; the
domain never reads files. Lookups are vectorised joins over the invoice frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from invoice_assets.domain.arrays import columns_frame, decode, first_rows, row_codes

_TR_ASCII = str.maketrans("ıİşŞğĞüÜöÖçÇ", "iIsSgGuUoOcC")
TARIFF_KEYS = ("tariff_group", "voltage_level", "tariff_term")


def _normalise_one(value: object) -> str:
    return str(value).translate(_TR_ASCII).strip().lower().replace(" ", "_")


def factorized(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """``(codes, uniques)`` of a label column; code -1 is null. Free for a categorical column."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return values.cat.codes.to_numpy(), values.cat.categories.to_numpy(dtype=object)
    codes, uniques = pd.factorize(values.astype("object"), use_na_sentinel=True)
    return codes, np.asarray(uniques, dtype=object)


def normalised_codes(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """``(codes, labels)``: each distinct label normalised once (a partition has a handful)."""
    codes, uniques = factorized(values)
    return codes, np.array([_normalise_one(u) for u in uniques], dtype=object)


def normalise_label(values: pd.Series) -> pd.Series:
    """Tariff labels compared case- and diacritic-insensitively (``Tarımsal`` = ``tarimsal``)."""
    codes, labels = normalised_codes(values)
    return pd.Series(decode(codes, labels), index=values.index, dtype="object")


@dataclass(frozen=True)
class TaxRates:
    """BTV and VAT rates; a tariff group without its own rate takes the default."""

    btv_default: float
    vat_default: float
    btv_by_group: dict[str, float] = field(default_factory=dict)
    vat_by_group: dict[str, float] = field(default_factory=dict)

    def rates_for(self, tariff_group: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        codes, groups = normalised_codes(tariff_group)
        btv = [self.btv_by_group.get(g, self.btv_default) for g in groups] + [self.btv_default]
        vat = [self.vat_by_group.get(g, self.vat_default) for g in groups] + [self.vat_default]
        return np.array(btv, dtype="float64")[codes], np.array(vat, dtype="float64")[codes]


@dataclass(frozen=True)
class MarketData:
    """Monthly prices (TL/MWh), the distribution tariff table (TL/kWh) and tax rates."""

    prices: pd.DataFrame  # month (YYYY-MM), ptf_tl_per_mwh, yekdem_tl_per_mwh, source
    tariffs: pd.DataFrame  # valid_from (date), tariff_group, voltage_level, tariff_term, ...
    tax: TaxRates
    agreement_multiplier: float

    def month_prices(self, period: pd.Series) -> pd.DataFrame:
        """PTF, YEKDEM, source and whether that source is an estimate for each invoice period
        (NaN/None/False where no row exists)."""
        table = self.prices.drop_duplicates("month", keep="last").set_index("month")
        codes, months = factorized(period)
        found = table.reindex(pd.Index(months, dtype="object"))  # one lookup per distinct month

        def spread(values: np.ndarray, fill: object, dtype: str) -> np.ndarray:
            return np.append(values.astype(dtype), np.array([fill], dtype=dtype))[codes]

        return columns_frame(
            {
                "ptf_tl_per_mwh": spread(found["ptf_tl_per_mwh"].to_numpy(), np.nan, "float64"),
                "yekdem_tl_per_mwh": spread(
                    found["yekdem_tl_per_mwh"].to_numpy(), np.nan, "float64"
                ),
                "price_source": spread(found["source"].to_numpy(), None, "object"),
                "price_estimated": spread(
                    (found["source"] == "estimate").to_numpy(), False, "bool"
                ),
            }
        )

    def tariff_prices(self, invoices: pd.DataFrame, period: pd.Series) -> np.ndarray:
        """Tariff-table distribution price (TL/kWh) valid at each invoice period, NaN if none.

        The as-of lookup runs once per distinct (tariff, period) combination, then is spread
        back to the invoices: a day holds a handful of combinations, not one per invoice. Rows
        are grouped by one integer key built from the label codes, so no string is hashed per row.
        """
        n = len(invoices)
        out = np.full(n, np.nan)
        if n == 0 or self.tariffs.empty:
            return out
        labelled = [normalised_codes(invoices[k]) for k in TARIFF_KEYS]
        period_codes, months = factorized(period)
        key = row_codes([codes for codes, _ in labelled] + [period_codes])
        first = first_rows(key)  # one representative row per combination
        combo_count = len(first)

        def labels(codes: np.ndarray, uniques: np.ndarray) -> np.ndarray:
            return decode(codes[first], uniques)

        combos = pd.DataFrame(
            {k: labels(c, u) for k, (c, u) in zip(TARIFF_KEYS, labelled, strict=True)}
        ).astype("object")
        combos["period"] = pd.Series(labels(period_codes, months), dtype="object")
        combos["combo"] = np.arange(combo_count)
        combos = combos.dropna()
        if combos.empty:
            return out
        combos["at"] = pd.to_datetime(combos["period"] + "-01", errors="coerce", format="%Y-%m-%d")
        combos = combos.dropna(subset=["at"])
        table = self.tariffs.copy()
        for name in TARIFF_KEYS:
            table[name] = normalise_label(table[name])
        table["at"] = pd.to_datetime(table["valid_from"])
        merged = pd.merge_asof(
            combos.sort_values("at"),
            table.sort_values("at")[[*TARIFF_KEYS, "at", "dist_tl_per_kwh"]],
            on="at",
            by=list(TARIFF_KEYS),
            direction="backward",
        )
        price = np.full(combo_count, np.nan)
        price[merged["combo"].to_numpy()] = merged["dist_tl_per_kwh"].to_numpy(dtype="float64")
        return price[key]
