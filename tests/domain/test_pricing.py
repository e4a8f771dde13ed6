"""``domain/pricing.py``: the offer of SPEC §5.2 recomputed by hand.

Market prices are read from the shipped tables (the test checks the arithmetic, not the data);
tax rates are the ones SPEC §5.2 names.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.domain.conftest import (
    BTV_DEFAULT,
    BTV_SANAYI,
    VAT_DEFAULT,
    VAT_TARIMSAL,
    evaluate_records,
    flags_of,
    make_record,
    values,
)

DIST = "distribution_unit_price_tl_per_kwh"


def month_row(market, month):
    row = market.prices.loc[market.prices["month"] == month]
    assert len(row) == 1, f"config/market_prices.csv has no single row for {month}"
    return float(row["ptf_tl_per_mwh"].iloc[0]), float(row["yekdem_tl_per_mwh"].iloc[0])


def table_price(market, valid_from, group, voltage, term):
    tariffs = market.tariffs
    row = tariffs.loc[
        (tariffs["valid_from"] == valid_from)
        & (tariffs["tariff_group"] == group)
        & (tariffs["voltage_level"] == voltage)
        & (tariffs["tariff_term"] == term)
    ]
    assert len(row) == 1
    return float(row["dist_tl_per_kwh"].iloc[0])


def offer(ev, row: int = 0) -> dict:
    return ev.offers.iloc[row].to_dict()


def test_offer_by_hand_with_yekdem_and_demand(t, market):
    kwh, demand_qty, demand_price = 25_000.0, 120.0, 45.0
    record = make_record(
        consumption_kwh=kwh,
        yek_amount_tl=1_800.0,
        demand_qty=demand_qty,
        demand_unit_price_tl_per_unit=demand_price,
    )
    ev = evaluate_records([record], t, market)
    ptf, yekdem = month_row(market, "2025-01")
    dist = table_price(market, "2025-01-01", "sanayi", "OG", "tek_terim")

    energy = (ptf / 1000 * kwh + yekdem / 1000 * kwh) * market.agreement_multiplier
    distribution = kwh * dist
    demand = demand_qty * demand_price
    btv = energy * BTV_SANAYI
    subtotal = energy + distribution + demand + btv
    vat = subtotal * VAT_DEFAULT
    total = subtotal + vat
    invoice_total = record["extraction"]["invoice_total_with_vat_tl"]["value"]
    difference = invoice_total - total

    got = offer(ev)
    assert got["offer_status"] == "priced" and values([got["offer_reason"]]) == [None]
    assert got["offer_energy_tl"] == pytest.approx(energy, rel=1e-12)
    assert got["offer_distribution_tl"] == pytest.approx(distribution, rel=1e-12)
    assert got["offer_demand_tl"] == pytest.approx(demand, rel=1e-12)
    assert got["offer_btv_tl"] == pytest.approx(btv, rel=1e-12)
    assert got["offer_vat_tl"] == pytest.approx(vat, rel=1e-12)
    assert got["offer_total_tl"] == pytest.approx(total, rel=1e-12)
    assert got["savings_tl"] == pytest.approx(difference, rel=1e-9)
    assert got["savings_ratio"] == pytest.approx(difference / invoice_total, rel=1e-9)
    assert got["annual_saving_tl"] == pytest.approx(difference * 12, rel=1e-9)


def test_default_agreement_multiplier_is_one_point_zero_one(market):
    assert market.agreement_multiplier == 1.01


def test_yekdem_is_added_only_when_the_invoice_shows_a_yekdem_charge(t, market):
    ptf, yekdem = month_row(market, "2025-01")
    kwh = 10_000.0
    recs = [
        make_record(invoice={"invoice_no": "NONE"}, drop=["yek_amount_tl"]),
        make_record(invoice={"invoice_no": "ZERO"}, yek_amount_tl=0.0),
        make_record(invoice={"invoice_no": "SHOWN"}, yek_amount_tl=1.0),
    ]
    ev = evaluate_records(recs, t, market)
    m = market.agreement_multiplier
    assert list(ev.offers["offer_energy_tl"]) == pytest.approx(
        [ptf / 1000 * kwh * m, ptf / 1000 * kwh * m, (ptf + yekdem) / 1000 * kwh * m]
    )


def test_money_is_not_rounded_inside_pricing(t, market):
    ev = evaluate_records([make_record(consumption_kwh=12_345.678)], t, market)
    ptf, _ = month_row(market, "2025-01")
    assert ev.offers.loc[0, "offer_energy_tl"] == pytest.approx(
        ptf / 1000 * 12_345.678 * market.agreement_multiplier, rel=1e-15
    )
    assert ev.offers.loc[0, "offer_energy_tl"] != round(ev.offers.loc[0, "offer_energy_tl"], 2)


def test_negative_savings_are_allowed(t, market):
    ev = evaluate_records([make_record(**{"current_active_unit_price_tl_per_kwh": 1.0})], t, market)
    got = offer(ev)
    assert got["offer_status"] == "priced"
    assert got["savings_tl"] < 0 and got["savings_ratio"] < 0 and got["annual_saving_tl"] < 0


# --- tariff table --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("period", "valid_from"),
    [
        ("2024-06", "2024-01-01"),
        ("2024-07", "2024-07-01"),
        ("2024-12", "2024-07-01"),
        ("2025-01", "2025-01-01"),
        ("2025-06", "2025-01-01"),
        ("2025-07", "2025-07-01"),
        ("2026-03", "2026-01-01"),
    ],
)
def test_tariff_row_is_the_latest_valid_from_at_the_period(t, market, period, valid_from):
    expected = table_price(market, valid_from, "sanayi", "OG", "tek_terim")
    record = make_record(invoice={"invoice_period": period}, **{DIST: expected})
    ev = evaluate_records([record], t, market)
    assert ev.offers.loc[0, "tariff_dist_tl_per_kwh"] == expected
    assert ev.offers.loc[0, "offer_distribution_tl"] == pytest.approx(10_000.0 * expected)
    assert flags_of(ev) == []


def test_period_falls_back_to_the_invoice_date_month(t, market):
    record = make_record(invoice={"invoice_period": None, "invoice_date": "2024-08-15"})
    ev = evaluate_records([record], t, market)
    assert ev.offers.loc[0, "invoice_period"] == "2024-08"
    expected = table_price(market, "2024-07-01", "sanayi", "OG", "tek_terim")
    assert ev.offers.loc[0, "tariff_dist_tl_per_kwh"] == expected


def test_table_price_wins_over_the_extracted_price(t, market):
    record = make_record(**{DIST: 0.86})  # within tolerance of the table's 0.8418
    ev = evaluate_records([record], t, market)
    table = table_price(market, "2025-01-01", "sanayi", "OG", "tek_terim")
    assert ev.offers.loc[0, "offer_distribution_tl"] == pytest.approx(10_000.0 * table)


def test_extracted_price_is_used_when_the_table_has_no_row(t, market):
    record = make_record(invoice={"tariff_group": "mesken", "voltage_level": "OG"}, **{DIST: 0.93})
    ev = evaluate_records([record], t, market)
    assert np.isnan(ev.offers.loc[0, "tariff_dist_tl_per_kwh"])
    assert ev.offers.loc[0, "offer_distribution_tl"] == pytest.approx(10_000.0 * 0.93)
    assert flags_of(ev) == []


def test_extracted_price_is_used_when_tariff_metadata_is_missing(t, market):
    record = make_record(invoice={"tariff_group": None}, **{DIST: 0.93})
    ev = evaluate_records([record], t, market)
    assert ev.offers.loc[0, "offer_status"] == "priced"
    assert ev.offers.loc[0, "offer_distribution_tl"] == pytest.approx(10_000.0 * 0.93)


def test_tariff_labels_match_case_and_diacritic_insensitively(t, market):
    record = make_record(invoice={"tariff_group": "SANAYİ", "voltage_level": "og"})
    ev = evaluate_records([record], t, market)
    assert ev.offers.loc[0, "tariff_dist_tl_per_kwh"] == table_price(
        market, "2025-01-01", "sanayi", "OG", "tek_terim"
    )


# --- DIST_TARIFF_TOLERANCE -----------------------------------------------------------------------


def dist_gap(extracted, table):
    return np.abs(extracted - table) / table * 100.0


def largest_price_within_tolerance(table, tolerance):
    """The largest extracted price whose gap (as pricing computes it) is ≤ the tolerance."""
    price = table * (1 + tolerance / 100)
    assert abs(dist_gap(price, table) - tolerance) < 1e-9
    while dist_gap(price, table) > tolerance:
        price = np.nextafter(price, 0.0)
    while dist_gap(np.nextafter(price, np.inf), table) <= tolerance:
        price = np.nextafter(price, np.inf)
    return float(price)


def dist_mismatch(t, market, price):
    ev = evaluate_records([make_record(**{DIST: price})], t, market)
    return bool(ev.offers.loc[0, "distribution_mismatch"]), flags_of(ev)


def test_distribution_price_at_tariff_tolerance_is_no_mismatch(t, market):
    table = table_price(market, "2025-01-01", "sanayi", "OG", "tek_terim")
    price = largest_price_within_tolerance(table, t.Validation.DIST_TARIFF_TOLERANCE)
    assert dist_mismatch(t, market, price) == (False, [])
    low = table * (1 - t.Validation.DIST_TARIFF_TOLERANCE / 100 * (1 - 1e-6))
    assert dist_mismatch(t, market, low) == (False, [])


def test_distribution_price_just_above_tariff_tolerance_is_a_mismatch(t, market):
    table = table_price(market, "2025-01-01", "sanayi", "OG", "tek_terim")
    price = largest_price_within_tolerance(table, t.Validation.DIST_TARIFF_TOLERANCE)
    assert dist_mismatch(t, market, float(np.nextafter(price, np.inf))) == (
        True,
        ["DISTRIBUTION_MISMATCH"],
    )
    below = table * (1 - t.Validation.DIST_TARIFF_TOLERANCE / 100 * (1 + 1e-6))
    assert dist_mismatch(t, market, below)[0]


def test_zero_extracted_distribution_price_is_not_a_mismatch(t, market):
    assert dist_mismatch(t, market, 0.0) == (False, [])


def test_distribution_mismatch_does_not_stop_pricing(t, market):
    ev = evaluate_records([make_record(**{DIST: 1.2})], t, market)
    assert ev.offers.loc[0, "offer_status"] == "priced"
    assert ev.offers.loc[0, "distribution_mismatch"]


# --- tax rates -----------------------------------------------------------------------------------


def test_tarimsal_vat_is_ten_percent_with_turkish_spelling(t, market):
    record = make_record(
        invoice={"tariff_group": "Tarımsal", "voltage_level": "OG"},
        **{DIST: table_price(market, "2025-01-01", "tarimsal", "OG", "tek_terim")},
        btv_rate=BTV_DEFAULT,
        vat_rate=VAT_TARIMSAL,
    )
    ev = evaluate_records([record], t, market)
    got = offer(ev)
    assert got["offer_status"] == "priced", flags_of(ev)
    assert got["offer_btv_tl"] == pytest.approx(got["offer_energy_tl"] * BTV_DEFAULT)
    subtotal = (
        got["offer_energy_tl"]
        + got["offer_distribution_tl"]
        + got["offer_demand_tl"]
        + got["offer_btv_tl"]
    )
    assert got["offer_vat_tl"] == pytest.approx(subtotal * VAT_TARIMSAL)
    assert flags_of(ev) == []


def test_non_sanayi_groups_pay_the_default_btv(t, market):
    record = make_record(
        invoice={"tariff_group": "ticarethane", "voltage_level": "OG"},
        **{DIST: table_price(market, "2025-01-01", "ticarethane", "OG", "tek_terim")},
        btv_rate=BTV_DEFAULT,
    )
    ev = evaluate_records([record], t, market)
    got = offer(ev)
    assert got["offer_btv_tl"] == pytest.approx(got["offer_energy_tl"] * BTV_DEFAULT)
    assert got["offer_vat_tl"] == pytest.approx(
        (got["offer_total_tl"] - got["offer_vat_tl"]) * VAT_DEFAULT
    )


def test_current_breakdown_derives_missing_btv_and_vat_from_the_rates(t, market):
    record = make_record(drop=["btv_tl", "vat_tl"])
    ev = evaluate_records([record], t, market)
    b = ev.breakdown.iloc[0]
    assert b["current_btv_tl"] == pytest.approx(30_000.0 * BTV_SANAYI)
    assert b["current_vat_tl"] == pytest.approx((30_000.0 + 8_418.0 + 300.0) * VAT_DEFAULT)
    assert flags_of(ev) == []


# --- not priced ----------------------------------------------------------------------------------


def test_not_ready_invoice_gets_no_offer_with_the_reason(t, market):
    ev = evaluate_records([make_record(consumption_kwh=0.0)], t, market)
    got = offer(ev)
    assert got["offer_status"] == "not_priced"
    assert got["offer_reason"] == "not_ready_for_pricing"
    assert np.isnan(got["offer_total_tl"]) and np.isnan(got["savings_tl"])


def test_failed_extraction_gets_no_offer(t, market):
    ev = evaluate_records([b"\x00garbage"], t, market)
    assert offer(ev)["offer_reason"] == "extraction_failed"


def test_missing_market_price_gets_no_offer(t, market):
    ev = evaluate_records([make_record(invoice={"invoice_period": "2019-01"})], t, market)
    assert offer(ev)["offer_reason"] == "market_price_missing"
    assert np.isnan(offer(ev)["offer_total_tl"])


def test_absurd_invoice_total_does_not_overflow_into_a_warning(t, market):
    # pytest turns warnings into errors: annual savings of 1e308 × 12 must not warn or raise
    ev = evaluate_records([make_record(invoice_total_with_vat_tl=1e308)], t, market)
    assert offer(ev)["offer_status"] == "not_priced"
    # the total also passes Validation.MAX_AMOUNT_TL: an implausible value (VALIDATION_FAILED)
    assert flags_of(ev) == ["INVOICE_TOTAL_MISMATCH", "VALIDATION_FAILED"]
