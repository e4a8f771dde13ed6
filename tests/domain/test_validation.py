"""``domain/validation.py``: the rules of SPEC §5.1, each at its boundaries.

Errors make an invoice not ready for pricing, warnings do not. Percent tolerances are checked
with inputs whose computed percentage equals the threshold exactly (asserted first).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from invoice_assets.domain.flags import CATALOGUE
from invoice_assets.domain.validation import (
    HARD_STOP,
    IMPLAUSIBLE,
    PLAUSIBLE_MAX,
    issues_as_json,
    issues_by_invoice,
)
from tests.domain.conftest import evaluate_records, flags_of, issues_of, make_record

UNIT = "current_active_unit_price_tl_per_kwh"
DIST = "distribution_unit_price_tl_per_kwh"
TOTAL = "invoice_total_with_vat_tl"
NUDGE = 1e-6


def ready(ev, row: int = 0) -> bool:
    return bool(ev.validation.loc[row, "is_ready_for_pricing"])


def codes(ev, row: int = 0, kind: str | None = None) -> set[str]:
    return {code for code, _ in issues_of(ev, row, kind)}


def test_clean_invoice_has_no_issues_and_is_ready(t):
    ev = evaluate_records([make_record()], t)
    assert ev.issues.empty
    assert ready(ev)
    assert ev.validation.loc[0, "error_count"] == 0 and ev.validation.loc[0, "warning_count"] == 0


# --- missing fields ------------------------------------------------------------------------------


@pytest.mark.parametrize("kwh", [None, 0.0, -10.0], ids=["null", "zero", "negative"])
def test_consumption_null_or_not_positive_is_a_missing_field_error(t, kwh):
    ev = evaluate_records(
        [make_record(consumption_kwh=kwh, energy_total_tl=30_000.0, distribution_total_tl=8_418.0)],
        t,
    )
    assert ("MISSING_FIELD", "consumption_kwh") in issues_of(ev, kind="error")
    assert ev.validation.loc[0, "consumption_missing"]
    assert not ev.validation.loc[0, "other_fields_missing"]
    assert not ready(ev)
    assert "CONSUMPTION_MISSING" in flags_of(ev)


def test_unit_price_null_is_a_missing_field_error(t):
    ev = evaluate_records([make_record(**{UNIT: None}, energy_total_tl=30_000.0)], t)
    assert ("MISSING_FIELD", UNIT) in issues_of(ev, kind="error")
    assert ev.validation.loc[0, "other_fields_missing"]
    assert not ready(ev)
    assert flags_of(ev) == ["MISSING_FIELDS"]


@pytest.mark.parametrize("total", [None, 0.0, -46_461.6], ids=["null", "zero", "negative"])
def test_invoice_total_null_or_not_positive_is_a_missing_field_error(t, total):
    ev = evaluate_records([make_record(**{TOTAL: total})], t)
    assert ("MISSING_FIELD", TOTAL) in issues_of(ev, kind="error")
    assert not ready(ev)
    assert "MISSING_FIELDS" in flags_of(ev)


def test_neither_ettn_nor_invoice_no_is_a_missing_field_error(t):
    ev = evaluate_records([make_record(invoice={"invoice_no": None, "ettn": None})], t)
    assert issues_of(ev) == {("MISSING_FIELD", "invoice_no")}
    assert not ready(ev)
    assert flags_of(ev) == ["MISSING_FIELDS"]


@pytest.mark.parametrize(
    "ids", [{"invoice_no": None, "ettn": "ETTN-1"}, {"invoice_no": "N-1", "ettn": None}]
)
def test_either_identifier_is_enough(t, ids):
    ev = evaluate_records([make_record(invoice=ids)], t)
    assert ev.issues.empty and ready(ev)


def test_no_period_and_no_date_is_a_missing_field_owned_by_extraction_not_market_data(t):
    # Issue 17: this invoice used to become MARKET_PRICE_MISSING (S1, market-data).
    ev = evaluate_records([make_record(invoice={"invoice_period": None, "invoice_date": None})], t)
    assert issues_of(ev) == {("MISSING_FIELD", "invoice_period")}
    assert ev.validation.loc[0, "other_fields_missing"]
    assert not ready(ev)
    assert flags_of(ev) == ["MISSING_FIELDS"]
    assert CATALOGUE["MISSING_FIELDS"].owner == "extraction-oncall"
    offer = ev.offers.loc[0]
    assert (offer["offer_status"], offer["offer_reason"]) == ("not_priced", "not_ready_for_pricing")
    assert not offer["market_price_missing"]
    (incident,) = ev.incidents.to_dict("records")
    assert (incident["primary_flag"], incident["severity"]) == ("MISSING_FIELDS", "S2")


def test_a_period_derived_from_the_invoice_date_is_enough(t):
    ev = evaluate_records([make_record(invoice={"invoice_period": None})], t)  # date 2025-02-05
    assert ev.issues.empty and ready(ev)
    assert ev.offers.loc[0, "offer_status"] == "priced"


def test_a_period_without_a_date_is_enough(t):
    ev = evaluate_records([make_record(invoice={"invoice_date": None})], t)
    assert ev.issues.empty and ready(ev)


def test_a_month_without_a_market_price_is_still_a_market_data_gap(t):
    ev = evaluate_records([make_record(invoice={"invoice_period": "2019-01"})], t)
    assert ready(ev)
    assert flags_of(ev)[0] == "MARKET_PRICE_MISSING"


# --- unit price range ----------------------------------------------------------------------------


def unit_price_eval(t, price):
    return evaluate_records([make_record(**{UNIT: price})], t)


def test_unit_price_at_min_is_valid(t):
    ev = unit_price_eval(t, t.Validation.MIN_UNIT_PRICE)
    assert "UNIT_PRICE_OUT_OF_RANGE" not in codes(ev)
    assert ready(ev)


def test_unit_price_just_below_min_is_an_error_hinting_kr_per_kwh(t):
    ev = unit_price_eval(t, t.Validation.MIN_UNIT_PRICE * (1 - NUDGE))
    errors, _ = issues_by_invoice(ev.issues, len(ev.invoices))
    [error] = [e for e in errors[0] if e["code"] == "UNIT_PRICE_OUT_OF_RANGE"]
    assert error["field"] == UNIT
    assert "kr/kWh" in error["message"]
    assert not ready(ev)
    assert flags_of(ev) == ["VALIDATION_FAILED"]


def test_unit_price_at_max_is_valid(t):
    ev = unit_price_eval(t, t.Validation.MAX_UNIT_PRICE)
    assert "UNIT_PRICE_OUT_OF_RANGE" not in codes(ev)
    assert ready(ev)


def test_unit_price_just_above_max_is_an_error_hinting_tl_per_mwh(t):
    ev = unit_price_eval(t, t.Validation.MAX_UNIT_PRICE * (1 + NUDGE))
    errors, _ = issues_by_invoice(ev.issues, len(ev.invoices))
    [error] = [e for e in errors[0] if e["code"] == "UNIT_PRICE_OUT_OF_RANGE"]
    assert "TL/MWh" in error["message"]
    assert not ready(ev)


def test_unit_price_in_tl_per_mwh_is_out_of_range(t):
    ev = unit_price_eval(t, 3_000.0)
    assert ("UNIT_PRICE_OUT_OF_RANGE", UNIT) in issues_of(ev, kind="error")


# --- distribution price range --------------------------------------------------------------------


def dist_price_eval(t, price):
    return evaluate_records([make_record(**{DIST: price})], t)


def test_distribution_price_at_min_is_valid(t):
    ev = dist_price_eval(t, t.Validation.MIN_DIST_PRICE)
    assert "DIST_PRICE_OUT_OF_RANGE" not in codes(ev)


def test_distribution_price_below_min_is_an_error(t):
    ev = dist_price_eval(t, t.Validation.MIN_DIST_PRICE - 0.01)
    assert ("DIST_PRICE_OUT_OF_RANGE", DIST) in issues_of(ev, kind="error")
    assert not ready(ev)
    assert "VALIDATION_FAILED" in flags_of(ev)


def test_distribution_price_at_max_is_valid(t):
    ev = dist_price_eval(t, t.Validation.MAX_DIST_PRICE)
    assert "DIST_PRICE_OUT_OF_RANGE" not in codes(ev)
    assert ready(ev)


def test_distribution_price_just_above_max_is_an_error(t):
    ev = dist_price_eval(t, t.Validation.MAX_DIST_PRICE * (1 + NUDGE))
    assert ("DIST_PRICE_OUT_OF_RANGE", DIST) in issues_of(ev, kind="error")
    assert not ready(ev)


# --- low confidence ------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["consumption_kwh", UNIT, TOTAL])
def test_confidence_below_threshold_is_a_warning_for_each_key_field(t, field):
    conf = t.Validation.LOW_CONFIDENCE * (1 - NUDGE)
    ev = evaluate_records([make_record(conf={field: conf})], t)
    assert issues_of(ev) == {("LOW_CONFIDENCE", field)}
    assert ready(ev)
    assert ev.validation.loc[0, "low_confidence"]


@pytest.mark.parametrize("field", ["consumption_kwh", UNIT, TOTAL])
def test_confidence_at_threshold_is_not_low(t, field):
    ev = evaluate_records([make_record(conf={field: t.Validation.LOW_CONFIDENCE})], t)
    assert ev.issues.empty
    assert not ev.validation.loc[0, "low_confidence"]


def test_every_low_key_field_gets_its_own_warning(t):
    low = t.Validation.LOW_CONFIDENCE / 2
    ev = evaluate_records([make_record(conf={"consumption_kwh": low, UNIT: low, TOTAL: low})], t)
    assert issues_of(ev, kind="warning") == {
        ("LOW_CONFIDENCE", "consumption_kwh"),
        ("LOW_CONFIDENCE", UNIT),
        ("LOW_CONFIDENCE", TOTAL),
    }
    assert ev.validation.loc[0, "warning_count"] == 3


def test_low_confidence_on_a_non_key_field_is_not_a_warning(t):
    ev = evaluate_records([make_record(conf={"vat_tl": 0.1, "btv_tl": 0.0})], t)
    assert ev.issues.empty


# --- energy cross-check --------------------------------------------------------------------------


def crosscheck_eval(t, scale):
    """kWh × unit price differs from the printed energy total by ENERGY_CROSSCHECK_TOLERANCE %."""
    kwh, energy = 1_000.0, 2_000.0
    price = energy * (1 + t.Validation.ENERGY_CROSSCHECK_TOLERANCE / 100 * scale) / kwh
    record = make_record(
        consumption_kwh=kwh, **{UNIT: price}, energy_total_tl=energy, line_items=[]
    )
    return evaluate_records([record], t), 100 * abs(kwh * price - energy) / energy


def test_energy_crosscheck_at_tolerance_is_no_warning(t):
    ev, gap = crosscheck_eval(t, 1.0)
    assert gap == t.Validation.ENERGY_CROSSCHECK_TOLERANCE
    assert "ENERGY_CROSSCHECK" not in codes(ev)


def test_energy_crosscheck_just_above_tolerance_is_a_warning(t):
    ev, gap = crosscheck_eval(t, 1 + 1e-4)
    assert gap > t.Validation.ENERGY_CROSSCHECK_TOLERANCE
    assert issues_of(ev) == {("ENERGY_CROSSCHECK", "energy_total_tl")}
    assert ready(ev)
    assert flags_of(ev) == ["VALIDATION_WARNINGS"]


def test_energy_crosscheck_just_below_tolerance_is_no_warning(t):
    ev, _ = crosscheck_eval(t, 1 - 1e-4)
    assert ev.issues.empty


def test_energy_crosscheck_is_skipped_without_an_energy_total(t):
    ev = evaluate_records([make_record(energy_total_tl=None, line_items=[])], t)
    assert "ENERGY_CROSSCHECK" not in codes(ev)


# --- line items ----------------------------------------------------------------------------------


def line(qty, unit_price, amount, label="Aktif enerji"):
    return {
        "label": label,
        "qty": qty,
        "unit": "kWh",
        "unit_price": unit_price,
        "amount_tl": amount,
        "confidence": 0.95,
    }


def line_eval(t, *items):
    return evaluate_records([make_record(line_items=list(items))], t)


def test_line_at_consistency_tolerance_is_no_warning(t):
    tolerance = t.Validation.LINE_CONSISTENCY_TOLERANCE
    amount = 100.0
    unit_price = amount * (1 + tolerance / 100)
    assert 100 * abs(unit_price - amount) / amount == tolerance
    ev = line_eval(t, line(1.0, unit_price, amount))
    assert ev.issues.empty


def test_line_just_above_consistency_tolerance_is_a_warning_naming_the_line(t):
    tolerance = t.Validation.LINE_CONSISTENCY_TOLERANCE
    amount = 100.0
    ok = line(10_000.0, 3.0, 30_000.0)
    bad = line(1.0, amount * (1 + tolerance / 100 * (1 + 1e-4)), amount, label="Reaktif")
    ev = line_eval(t, ok, bad)
    assert issues_of(ev) == {("LINE_INCONSISTENT", "line_items[1]")}
    _, warnings = issues_by_invoice(ev.issues, 1)
    assert warnings[0][0]["message"].startswith("Reaktif:")
    assert ready(ev)


def test_every_inconsistent_line_gets_a_warning(t):
    ev = line_eval(t, line(1.0, 150.0, 100.0), line(2.0, 10.0, 30.0), line(1.0, -5.0, -10.0))
    assert issues_of(ev) == {
        ("LINE_INCONSISTENT", "line_items[0]"),
        ("LINE_INCONSISTENT", "line_items[1]"),
        ("LINE_INCONSISTENT", "line_items[2]"),
    }
    assert ev.validation.loc[0, "warning_count"] == 3


def test_lines_with_zero_or_missing_amount_are_not_checked(t):
    ev = line_eval(t, line(1.0, 5.0, 0.0), line(None, 5.0, 10.0), line(1.0, 5.0, None))
    assert ev.issues.empty


def test_line_issues_belong_to_their_own_invoice(t):
    good = make_record(invoice={"invoice_no": "GOOD"})
    bad = make_record(invoice={"invoice_no": "BAD"}, line_items=[line(1.0, 150.0, 100.0)])
    ev = evaluate_records([good, bad], t)
    assert issues_of(ev, 0) == set()
    assert issues_of(ev, 1) == {("LINE_INCONSISTENT", "line_items[0]")}


# --- total sanity hard stop ----------------------------------------------------------------------


def hard_stop_eval(t, scale):
    """Printed parts add to 40 000; the printed total is off by HARD_STOP_DELTA % × scale."""
    computed = 40_000.0
    ratio = t.Validation.HARD_STOP_DELTA / 100 * scale
    total = computed / (1 - ratio)
    record = make_record(
        consumption_kwh=10_000.0,
        **{UNIT: 4.0, DIST: 0.0, TOTAL: total},
        distribution_total_tl=0.0,
        btv_tl=0.0,
        vat_tl=0.0,
    )
    return evaluate_records([record], t)


def test_total_delta_at_hard_stop_is_an_error_that_stops_pricing(t):
    ev = hard_stop_eval(t, 1.0)
    assert 100.0 * ev.mismatch.loc[0, "mismatch_ratio"] == t.Validation.HARD_STOP_DELTA
    assert (HARD_STOP, TOTAL) in issues_of(ev, kind="error")
    assert ev.validation.loc[0, "hard_stop"]
    assert not ready(ev)
    assert ev.offers.loc[0, "offer_status"] == "not_priced"


def test_hard_stop_raises_no_extra_validation_failed_flag(t):
    ev = hard_stop_eval(t, 1.0)
    assert not ev.validation.loc[0, "has_validation_errors"]
    assert flags_of(ev) == ["INVOICE_TOTAL_MISMATCH"]


def test_total_delta_just_below_hard_stop_is_priced(t):
    ev = hard_stop_eval(t, 1 - NUDGE)
    assert 100.0 * ev.mismatch.loc[0, "mismatch_ratio"] < t.Validation.HARD_STOP_DELTA
    assert HARD_STOP not in codes(ev)
    assert ready(ev)
    assert ev.offers.loc[0, "offer_status"] == "priced"
    assert flags_of(ev) == ["INVOICE_TOTAL_MISMATCH"]


def test_total_delta_just_above_hard_stop_stops_pricing(t):
    ev = hard_stop_eval(t, 1 + NUDGE)
    assert HARD_STOP in codes(ev)
    assert not ready(ev)


# --- plausibility bounds (Validation.MAX_*) ------------------------------------------------------
# Magnitudes no invoice can have are bad input: an IMPLAUSIBLE_VALUE error (VALIDATION_FAILED),
# never pricing, so that CALC_BUG keeps meaning a bug in pricing.


def _bound(t, field: str) -> float:
    return float(getattr(t.Validation, PLAUSIBLE_MAX[field][0]))


@pytest.mark.parametrize("field", sorted(PLAUSIBLE_MAX))
def test_a_value_at_its_plausibility_bound_is_not_implausible(t, field):
    ev = evaluate_records([make_record(**{field: _bound(t, field)})], t)
    # (a part at the bound may push the derived printed total past it: only the field counts)
    assert (IMPLAUSIBLE, field) not in issues_of(ev)


@pytest.mark.parametrize("sign", [1.0, -1.0], ids=["positive", "negative"])
@pytest.mark.parametrize("field", sorted(PLAUSIBLE_MAX))
def test_a_value_beyond_its_plausibility_bound_is_an_error_that_stops_pricing(t, field, sign):
    ev = evaluate_records([make_record(**{field: sign * _bound(t, field) * (1 + NUDGE)})], t)
    assert (IMPLAUSIBLE, field) in issues_of(ev, kind="error")
    assert not ready(ev)
    assert ev.offers.loc[0, "offer_status"] == "not_priced"
    assert "CALC_BUG" not in flags_of(ev)


@pytest.mark.parametrize(
    "values",
    [
        {"consumption_kwh": 1e308, "energy_total_tl": 30_000.0, "distribution_total_tl": 8_418.0},
        {"consumption_kwh": 5e307, UNIT: 0.5},
        {"consumption_kwh": 1e20, "energy_total_tl": 30_000.0, "distribution_total_tl": 8_418.0},
        {"demand_qty": 1e200, "demand_unit_price_tl_per_unit": 1e100, "btv_tl": 0.0},
        {"yek_amount_tl": 1e308},
    ],
    ids=["kwh-1e308", "kwh-5e307", "kwh-1e20", "demand-1e200", "yek-1e308"],
)
def test_absurd_magnitudes_are_validation_failed_not_calc_bug(t, values):
    # 1e308 kWh with printed totals used to be priced into an overflow: CALC_BUG (S1, owner
    # pricing-eng, RUNBOOK: roll back the deploy) for what is bad input.
    record = make_record(**values, vat_tl=7_000.0, invoice_total_with_vat_tl=46_000.0)
    ev = evaluate_records([record], t)
    assert ev.invoices.loc[0, "status"] == "ok"
    assert IMPLAUSIBLE in codes(ev, kind="error")
    assert "VALIDATION_FAILED" in flags_of(ev)
    assert "CALC_BUG" not in flags_of(ev)
    assert ev.offers.loc[0, "offer_reason"] == "not_ready_for_pricing"
    message = next(m for m in ev.issues["message"] if "plausible" in m)
    assert "MAX_" in message


# --- demand --------------------------------------------------------------------------------------


def test_demand_quantity_without_a_price_is_a_warning(t):
    ev = evaluate_records([make_record(demand_qty=250.0)], t)
    assert issues_of(ev) == {("DEMAND_PRICE_MISSING", "demand_unit_price_tl_per_unit")}
    assert ready(ev)
    assert flags_of(ev) == ["VALIDATION_WARNINGS"]


def test_demand_quantity_with_a_price_is_fine(t):
    ev = evaluate_records([make_record(demand_qty=250.0, demand_unit_price_tl_per_unit=40.0)], t)
    assert ev.issues.empty


def test_zero_demand_without_a_price_is_fine(t):
    ev = evaluate_records([make_record(demand_qty=0.0)], t)
    assert ev.issues.empty


# --- output shape --------------------------------------------------------------------------------


def test_errors_and_warnings_are_lists_of_code_field_message(t):
    record = make_record(**{UNIT: 40.0}, conf={TOTAL: 0.3})
    ev = evaluate_records([record], t)
    errors, warnings = issues_by_invoice(ev.issues, len(ev.invoices))
    assert [set(e) for e in errors[0]] == [{"code", "field", "message"}]
    assert {(w["code"], w["field"]) for w in warnings[0]} == {("LOW_CONFIDENCE", TOTAL)}
    assert all(isinstance(e["message"], str) and e["message"] for e in errors[0] + warnings[0])


def test_the_stored_json_texts_are_the_issue_lists_of_every_row(t):
    records = [
        make_record(**{UNIT: 40.0}, conf={TOTAL: 0.3}),
        make_record(invoice={"invoice_no": "B"}),
        b"{broken",
        make_record(invoice={"invoice_no": "C"}, conf={TOTAL: 0.2, UNIT: 0.1}),
    ]
    ev = evaluate_records(records, t)
    errors, warnings = issues_by_invoice(ev.issues, len(ev.invoices))
    error_texts, warning_texts = issues_as_json(ev.issues, len(ev.invoices))
    assert [json.loads(x) for x in error_texts] == errors
    assert [json.loads(x) for x in warning_texts] == warnings
    assert error_texts[1] == "[]" and warning_texts[2] == "[]"
    assert len(errors[0]) == 1 and len(warnings[3]) == 2


def test_failed_extractions_get_no_validation_issues(t):
    ev = evaluate_records([b"{not json", make_record()], t)
    assert not (ev.issues["row"] == 0).any()
    assert not ready(ev, 0) and ready(ev, 1)


def test_validation_is_row_aligned_for_many_invoices(t):
    recs = [
        make_record(invoice={"invoice_no": f"N{i}"}, **{UNIT: price})
        for i, price in enumerate([3.0, 40.0, 3.0, 0.1])
    ]
    ev = evaluate_records(recs, t)
    assert list(ev.validation["is_ready_for_pricing"]) == [True, False, True, False]
    assert np.array_equal(ev.validation.index, ev.invoices.index)
