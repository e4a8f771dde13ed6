"""Pricing the alternative offer (SPEC §5.2).

Offer energy is PTF (+ YEKDEM when the invoice shows a YEKDEM charge) times the agreement
multiplier; distribution is regulated, so it comes from the tariff table (the extracted price
only when the table has no row); demand is as today; BTV and VAT by tariff group. Invariant
breaks (a non-finite or a negative total) raise CALC_BUG instead of
publishing a wrong offer. Nothing is rounded here: money is rounded only when presented.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from invoice_assets.domain.arrays import columns_frame, first_match, labels
from invoice_assets.domain.breakdown import demand_charge, invoice_period
from invoice_assets.domain.market import TARIFF_KEYS, MarketData

if TYPE_CHECKING:
    from invoice_assets.domain.thresholds import Thresholds

# Why an invoice got no offer, in the order they are decided.
OFFER_REASONS = (
    "extraction_failed",
    "not_ready_for_pricing",
    "market_price_missing",
    "tariff_meta_missing",
    "tariff_lookup_failed",
    "calc_bug",
)


# What price_offers reads of the validation stage (beside the invoices and the market data).
PRICING_FACTS = ("is_ready_for_pricing",)


def price_offers(
    invoices: pd.DataFrame,
    validation: pd.DataFrame,
    market: MarketData,
    t: Thresholds,
    rates: tuple[np.ndarray, np.ndarray] | None = None,
) -> pd.DataFrame:
    """One offer row per invoice: the offer where pricing was possible, else the reason why not.

    ``rates`` are the (BTV, VAT) rates per invoice when the caller already has them.
    """
    n = len(invoices)
    ok = (invoices["status"] == "ok").to_numpy()
    ready = validation["is_ready_for_pricing"].to_numpy() & ok
    period = invoice_period(invoices)
    month = market.month_prices(period)
    kwh = invoices["consumption_kwh"].to_numpy()
    extracted_dist = invoices["distribution_unit_price_tl_per_kwh"].to_numpy()
    table_dist = market.tariff_prices(invoices, period)
    has_meta = np.logical_and.reduce([invoices[k].notna().to_numpy() for k in TARIFF_KEYS])
    has_row = np.isfinite(table_dist)
    has_extracted = np.isfinite(extracted_dist)

    market_missing = ready & ~np.isfinite(month["ptf_tl_per_mwh"].to_numpy())
    estimated = ready & ~market_missing & month["price_estimated"].to_numpy()
    meta_missing = ready & ~has_meta & ~has_extracted
    lookup_failed = ready & has_meta & ~has_row & ~has_extracted
    with np.errstate(all="ignore"):
        gap = np.abs(extracted_dist - table_dist) / table_dist * 100.0
        dist_mismatch = (
            ready & has_row & (extracted_dist > 0) & ~(gap <= t.Validation.DIST_TARIFF_TOLERANCE)
        )
        priceable = ready & ~market_missing & ~meta_missing & ~lookup_failed
        btv_rate, vat_rate = rates or market.tax.rates_for(invoices["tariff_group"])
        ptf = month["ptf_tl_per_mwh"].to_numpy() / 1000.0 * kwh
        shows_yekdem = (invoices["yek_amount_tl"] > 0).to_numpy()
        yekdem = np.where(shows_yekdem, month["yekdem_tl_per_mwh"].to_numpy() / 1000.0 * kwh, 0.0)
        energy = (ptf + yekdem) * market.agreement_multiplier
        distribution = kwh * np.where(has_row, table_dist, extracted_dist)
        demand = demand_charge(invoices)
        btv = energy * btv_rate
        subtotal = energy + distribution + demand + btv
        vat = subtotal * vat_rate
        total = subtotal + vat
        # The total is built from its parts, so the invariants that can break are a non-finite
        # result (overflow from absurd magnitudes) and a negative total (a credit larger than
        # the charges, e.g. a negative demand price).
        calc_bug = priceable & (~np.isfinite(total) | (total < 0))
        priced = priceable & ~calc_bug
        invoice_total = invoices["invoice_total_with_vat_tl"].to_numpy()
        difference = invoice_total - total
        savings_ratio = difference / invoice_total
        annual_saving = difference * 12.0  # may overflow for absurd totals: inside errstate

    reason = first_match(
        [~ok, ~ready, market_missing, meta_missing, lookup_failed, calc_bug], OFFER_REASONS
    )

    not_priced = ~priced
    offer = (
        energy,
        distribution,
        demand,
        btv,
        vat,
        total,
        difference,
        savings_ratio,
        annual_saving,
    )
    for values in offer:  # each is this call's own array: blanked in place, not copied
        values[not_priced] = np.nan

    return columns_frame(
        {
            "offer_status": np.array(["not_priced", "priced"], dtype=object)[priced * 1],
            "offer_reason": reason,
            "invoice_period": labels(period),
            "ptf_tl_per_mwh": month["ptf_tl_per_mwh"],  # Series: pandas tracks the sharing
            "yekdem_tl_per_mwh": month["yekdem_tl_per_mwh"],
            "price_source": month["price_source"],
            "tariff_dist_tl_per_kwh": table_dist,
            "offer_energy_tl": energy,
            "offer_distribution_tl": distribution,
            "offer_demand_tl": demand,
            "offer_btv_tl": btv,
            "offer_vat_tl": vat,
            "offer_total_tl": total,
            "savings_tl": difference,
            "savings_ratio": savings_ratio,
            "annual_saving_tl": annual_saving,
            "market_price_missing": market_missing,
            "market_price_estimated": estimated,
            "tariff_meta_missing": meta_missing,
            "tariff_lookup_failed": lookup_failed,
            "distribution_mismatch": dist_mismatch,
            "calc_bug": calc_bug,
        },
        index=pd.RangeIndex(n),
    )
