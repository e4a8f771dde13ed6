"""The current invoice's own breakdown (SPEC §5.2, evidence part): what the printed parts add to.

``computed_total`` is compared with the printed total by the mismatch rule (§5.3). The invoice's
own total stays the source of truth for what the customer pays today.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from invoice_assets.domain.arrays import columns_frame
from invoice_assets.domain.market import MarketData, factorized


def _present(values: pd.Series) -> np.ndarray:
    return values.notna().to_numpy()


def invoice_period(invoices: pd.DataFrame) -> pd.Series:
    """The billing month: ``invoice_period``, else the month of ``invoice_date``.

    A categorical series (a partition has a few months); the date is sliced only where the
    period is missing.
    """
    codes, months = factorized(invoices["invoice_period"])
    codes = codes.astype("int64")
    missing = np.flatnonzero(codes < 0)
    categories = {month: i for i, month in enumerate(months.tolist())}
    if len(missing):
        dates = invoices["invoice_date"].to_numpy(dtype=object)[missing]
        for row, date in zip(missing.tolist(), dates.tolist(), strict=True):
            if isinstance(date, str):
                codes[row] = categories.setdefault(date[:7], len(categories))
    return pd.Series(
        pd.Categorical.from_codes(codes, categories=pd.Index(list(categories), dtype=object)),
        index=invoices.index,
    )


def current_breakdown(
    invoices: pd.DataFrame,
    market: MarketData,
    rates: tuple[np.ndarray, np.ndarray] | None = None,
) -> pd.DataFrame:
    """Energy, distribution, demand, BTV, VAT and their sum as printed (or derived) per invoice.

    ``rates`` are the (BTV, VAT) rates per invoice when the caller already has them.
    """
    kwh = invoices["consumption_kwh"].to_numpy()
    btv_rate, vat_rate = rates or market.tax.rates_for(invoices["tariff_group"])
    with np.errstate(all="ignore"):
        energy = np.where(
            _present(invoices["energy_total_tl"]),
            invoices["energy_total_tl"].to_numpy(),
            kwh * invoices["current_active_unit_price_tl_per_kwh"].to_numpy(),
        )
        distribution = np.where(
            _present(invoices["distribution_total_tl"]),
            invoices["distribution_total_tl"].to_numpy(),
            kwh * invoices["distribution_unit_price_tl_per_kwh"].fillna(0.0).to_numpy(),
        )
        demand = demand_charge(invoices)
        btv = np.where(
            _present(invoices["btv_tl"]), invoices["btv_tl"].to_numpy(), energy * btv_rate
        )
        subtotal = energy + distribution + demand + btv
        vat = np.where(
            _present(invoices["vat_tl"]), invoices["vat_tl"].to_numpy(), subtotal * vat_rate
        )
        total = subtotal + vat
    return columns_frame(
        {
            "current_energy_tl": energy,
            "current_distribution_tl": distribution,
            "current_demand_tl": demand,
            "current_btv_tl": btv,
            "current_vat_tl": vat,
            "computed_total_tl": total,
        },
        index=invoices.index,
    )


def demand_charge(invoices: pd.DataFrame) -> np.ndarray:
    """qty × unit price; 0 when either is missing (validation warns about a missing price)."""
    with np.errstate(all="ignore"):
        charge = (
            invoices["demand_qty"].to_numpy() * invoices["demand_unit_price_tl_per_unit"].to_numpy()
        )
    charge[np.isnan(charge)] = 0.0  # a fresh array: zeroed in place
    return charge
