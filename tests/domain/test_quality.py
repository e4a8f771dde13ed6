"""``domain/quality.py`` and ``domain/flags.py``: every flag of SPEC §5.4 from realistic input,
deductions, clamping and grade boundaries.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from invoice_assets.domain.flags import CATALOGUE, catalogue_frame
from invoice_assets.domain.quality import score_invoices
from tests.domain.conftest import evaluate_records, flags_of, make_record

UNIT = "current_active_unit_price_tl_per_kwh"
DIST = "distribution_unit_price_tl_per_kwh"
TOTAL = "invoice_total_with_vat_tl"

SPEC_TABLE = {
    # flag: (severity, deduction, priority) — SPEC §5.4
    "EXTRACTION_FAILED": ("S1", 100, 1),
    "CALC_BUG": ("S1", 50, 5),
    "MARKET_PRICE_MISSING": ("S1", 50, 10),
    "CONSUMPTION_MISSING": ("S1", 50, 15),
    "TARIFF_LOOKUP_FAILED": ("S1", 40, 20),
    "TARIFF_META_MISSING": ("S1", 45, 25),
    "INVOICE_TOTAL_MISMATCH": ("S2", 25, 35),
    "MISSING_FIELDS": ("S2", 20, 40),
    "VALIDATION_FAILED": ("S2", 20, 45),
    "DISTRIBUTION_MISMATCH": ("S2", 15, 60),
    "LOW_CONFIDENCE": ("S3", 10, 80),
    "VALIDATION_WARNINGS": ("S3", 5, 90),
    "MARKET_PRICE_ESTIMATED": ("S3", 5, 95),
}


def score(ev, row: int = 0) -> float:
    return float(ev.scores.loc[row, "quality_score"])


def expected_score(flags: list[str]) -> float:
    return max(0.0, 100.0 - sum(CATALOGUE[f].deduction for f in flags))


def test_catalogue_matches_the_spec_table():
    assert {c: (s.severity, s.deduction, s.priority) for c, s in CATALOGUE.items()} == SPEC_TABLE
    frame = catalogue_frame()
    assert list(frame.index) == list(SPEC_TABLE)
    assert frame["owner"].map(bool).all() and frame["action"].map(bool).all()


def test_clean_invoice_has_no_flags_and_scores_100(t):
    ev = evaluate_records([make_record()], t)
    assert flags_of(ev) == []
    assert score(ev) == 100.0
    assert ev.scores.loc[0, "quality_grade"] == "OK"
    assert ev.scores.loc[0, "flags"] == ""


# --- one test per flag ---------------------------------------------------------------------------


def test_extraction_failed_from_a_string_amount(t):
    record = make_record()
    record["extraction"][TOTAL]["value"] = "46.461,60"
    ev = evaluate_records([record], t)
    assert flags_of(ev) == ["EXTRACTION_FAILED"]
    assert score(ev) == 0.0 and ev.scores.loc[0, "quality_grade"] == "BAD"
    assert ev.invoices.loc[0, "error_code"] == "wrong_type"


def test_calc_bug_from_a_demand_credit_larger_than_the_offer(t):
    # A 12 TL/kWh supplier with a 50 000 TL demand credit: today's total stays positive and
    # consistent, but the market-priced offer goes negative — an invariant break, not an offer.
    record = make_record(**{UNIT: 12.0}, demand_qty=100.0, demand_unit_price_tl_per_unit=-500.0)
    ev = evaluate_records([record], t)
    assert ev.breakdown.loc[0, "computed_total_tl"] > 0
    assert not ev.mismatch.loc[0, "has_mismatch"]
    assert flags_of(ev) == ["CALC_BUG"]
    assert ev.offers.loc[0, "offer_status"] == "not_priced"
    assert ev.offers.loc[0, "offer_reason"] == "calc_bug"
    assert pd.isna(ev.offers.loc[0, "offer_total_tl"])
    assert score(ev) == expected_score(["CALC_BUG"])


def test_an_offer_that_would_overflow_is_bad_input_not_a_calc_bug(t):
    # Absurd but finite and self-consistent magnitudes: today's total is finite, the market-priced
    # offer (PTF above the printed unit price) would overflow to infinity. That is bad input
    # (Validation.MAX_CONSUMPTION_KWH), so pricing never runs: CALC_BUG is kept for real bugs.
    record = make_record(consumption_kwh=5e307, **{UNIT: t.Validation.MIN_UNIT_PRICE})
    ev = evaluate_records([record], t)
    assert np.isfinite(ev.breakdown.loc[0, "computed_total_tl"])
    assert flags_of(ev) == ["VALIDATION_FAILED"]
    assert ev.offers.loc[0, "offer_reason"] == "not_ready_for_pricing"
    assert ev.incidents.loc[0, "primary_flag"] == "VALIDATION_FAILED"


def test_market_price_missing_for_a_period_absent_from_the_prices(t, market):
    assert "2019-01" not in set(market.prices["month"])
    ev = evaluate_records([make_record(invoice={"invoice_period": "2019-01"})], t)
    assert flags_of(ev) == ["MARKET_PRICE_MISSING"]
    assert score(ev) == expected_score(["MARKET_PRICE_MISSING"])


@pytest.mark.parametrize("kwh", [None, 0.0, -1.0])
def test_consumption_missing(t, kwh):
    record = make_record(
        consumption_kwh=kwh, energy_total_tl=30_000.0, distribution_total_tl=8_418.0
    )
    ev = evaluate_records([record], t)
    serious = ev.flags.loc[ev.flags["severity"].isin(["S1", "S2"]), "flag"]
    assert list(serious) == ["CONSUMPTION_MISSING"]
    # a printed energy total with zero kWh also fails the energy cross-check (a warning)
    assert set(flags_of(ev)) <= {"CONSUMPTION_MISSING", "VALIDATION_WARNINGS"}


def test_tariff_lookup_failed_when_metadata_has_no_row_and_no_price(t):
    record = make_record(
        invoice={"tariff_group": "mesken", "voltage_level": "OG"},
        drop=[DIST],
        distribution_total_tl=8_000.0,
    )
    ev = evaluate_records([record], t)
    assert flags_of(ev) == ["TARIFF_LOOKUP_FAILED"]
    assert ev.offers.loc[0, "offer_reason"] == "tariff_lookup_failed"


def test_tariff_meta_missing_without_metadata_and_price(t):
    record = make_record(
        invoice={"tariff_group": None, "voltage_level": None},
        drop=[DIST],
        distribution_total_tl=8_418.0,
    )
    ev = evaluate_records([record], t)
    assert flags_of(ev) == ["TARIFF_META_MISSING"]
    assert ev.offers.loc[0, "offer_reason"] == "tariff_meta_missing"


def test_invoice_total_mismatch(t):
    clean = make_record()["extraction"][TOTAL]["value"]
    ev = evaluate_records([make_record(**{TOTAL: clean * 1.1})], t)
    assert flags_of(ev) == ["INVOICE_TOTAL_MISMATCH"]
    assert ev.flags.loc[0, "severity"] == "S2"


def test_invoice_total_mismatch_carries_s1_severity(t):
    clean = make_record()["extraction"][TOTAL]["value"]
    ev = evaluate_records([make_record(**{TOTAL: clean * 1.5})], t)
    assert flags_of(ev) == ["INVOICE_TOTAL_MISMATCH"]
    assert ev.flags.loc[0, "severity"] == "S1"


def test_missing_fields_for_a_missing_unit_price(t):
    ev = evaluate_records([make_record(**{UNIT: None}, energy_total_tl=30_000.0)], t)
    assert flags_of(ev) == ["MISSING_FIELDS"]
    assert score(ev) == expected_score(["MISSING_FIELDS"])


def test_validation_failed_for_a_unit_price_in_tl_per_mwh(t):
    ev = evaluate_records([make_record(**{UNIT: 3_000.0})], t)
    assert flags_of(ev) == ["VALIDATION_FAILED"]


def test_distribution_mismatch_for_an_off_table_price(t):
    ev = evaluate_records([make_record(**{DIST: 1.1})], t)
    assert flags_of(ev) == ["DISTRIBUTION_MISMATCH"]


def test_low_confidence_once_per_invoice(t):
    low = t.Validation.LOW_CONFIDENCE / 2
    ev = evaluate_records([make_record(conf={"consumption_kwh": low, TOTAL: low})], t)
    # low-confidence fields are validation warnings too (§5.1)
    assert flags_of(ev) == ["LOW_CONFIDENCE", "VALIDATION_WARNINGS"]
    assert score(ev) == expected_score(["LOW_CONFIDENCE", "VALIDATION_WARNINGS"])


def test_validation_warnings_for_a_demand_quantity_without_price(t):
    ev = evaluate_records([make_record(demand_qty=300.0)], t)
    assert flags_of(ev) == ["VALIDATION_WARNINGS"]


def test_market_price_estimated_for_a_future_period(t, market):
    row = market.prices.loc[market.prices["month"] == "2026-10"]
    assert list(row["source"]) == ["estimate"]
    record = make_record(invoice={"invoice_period": "2026-10"}, **{DIST: 1.0858})
    ev = evaluate_records([record], t)
    assert flags_of(ev) == ["MARKET_PRICE_ESTIMATED"]
    assert ev.offers.loc[0, "offer_status"] == "priced"
    assert ev.scores.loc[0, "quality_grade"] == "OK"


def test_every_flag_of_the_catalogue_is_covered_by_a_test_above():
    names = {name for name in globals() if name.startswith("test_")}
    covered = {
        "EXTRACTION_FAILED": "test_extraction_failed_from_a_string_amount",
        "CALC_BUG": "test_calc_bug_from_a_demand_credit_larger_than_the_offer",
        "MARKET_PRICE_MISSING": "test_market_price_missing_for_a_period_absent_from_the_prices",
        "CONSUMPTION_MISSING": "test_consumption_missing",
        "TARIFF_LOOKUP_FAILED": "test_tariff_lookup_failed_when_metadata_has_no_row_and_no_price",
        "TARIFF_META_MISSING": "test_tariff_meta_missing_without_metadata_and_price",
        "INVOICE_TOTAL_MISMATCH": "test_invoice_total_mismatch",
        "MISSING_FIELDS": "test_missing_fields_for_a_missing_unit_price",
        "VALIDATION_FAILED": "test_validation_failed_for_a_unit_price_in_tl_per_mwh",
        "DISTRIBUTION_MISMATCH": "test_distribution_mismatch_for_an_off_table_price",
        "LOW_CONFIDENCE": "test_low_confidence_once_per_invoice",
        "VALIDATION_WARNINGS": "test_validation_warnings_for_a_demand_quantity_without_price",
        "MARKET_PRICE_ESTIMATED": "test_market_price_estimated_for_a_future_period",
    }
    assert set(covered) == set(CATALOGUE)
    assert set(covered.values()) <= names


# --- deductions, ordering, clamping --------------------------------------------------------------


def test_deductions_add_up_and_flags_are_listed_by_priority(t):
    record = make_record(
        invoice={"invoice_no": None},
        **{UNIT: 40.0, DIST: 1.1},
        conf={TOTAL: 0.3},
    )
    ev = evaluate_records([record], t)
    flags = ["MISSING_FIELDS", "VALIDATION_FAILED", "LOW_CONFIDENCE", "VALIDATION_WARNINGS"]
    assert flags_of(ev) == flags
    assert score(ev) == expected_score(flags)
    assert ev.scores.loc[0, "flags"] == ",".join(flags)
    assert ev.scores.loc[0, "flag_count"] == len(flags)


def test_score_is_clamped_at_zero(t):
    record = make_record(
        invoice={"invoice_no": None, "tariff_group": None},
        consumption_kwh=None,
        energy_total_tl=30_000.0,
        distribution_total_tl=8_418.0,
        **{UNIT: 40.0},
        conf={TOTAL: 0.3},
    )
    ev = evaluate_records([record], t)
    deductions = sum(CATALOGUE[f].deduction for f in flags_of(ev))
    assert deductions > 100
    assert score(ev) == 0.0
    assert ev.scores.loc[0, "quality_grade"] == "BAD"


def test_flags_do_not_leak_between_invoices(t):
    recs = [
        make_record(invoice={"invoice_no": "A"}),
        make_record(invoice={"invoice_no": "B"}, **{DIST: 1.1}),
        make_record(invoice={"invoice_no": "C"}),
    ]
    ev = evaluate_records(recs, t)
    assert [flags_of(ev, r) for r in range(3)] == [[], ["DISTRIBUTION_MISMATCH"], []]
    assert list(ev.scores["quality_score"]) == [100.0, 85.0, 100.0]


# --- grade boundaries ----------------------------------------------------------------------------


def synthetic_flags(deduction: float) -> pd.DataFrame:
    return pd.DataFrame(
        {"row": [0], "flag": ["X"], "severity": ["S3"], "deduction": [deduction], "priority": [1]}
    )


def grade_for_score(t, target: float) -> tuple[float, str]:
    scores = score_invoices(synthetic_flags(100.0 - target), 1, t)
    return float(scores.loc[0, "quality_score"]), str(scores.loc[0, "quality_grade"])


def test_score_at_ok_min_is_ok(t):
    assert grade_for_score(t, t.Quality.OK_MIN_SCORE) == (t.Quality.OK_MIN_SCORE, "OK")


def test_score_just_below_ok_min_is_check(t):
    assert grade_for_score(t, t.Quality.OK_MIN_SCORE - 0.5)[1] == "CHECK"


def test_score_at_check_min_is_check(t):
    assert grade_for_score(t, t.Quality.CHECK_MIN_SCORE) == (t.Quality.CHECK_MIN_SCORE, "CHECK")


def test_score_just_below_check_min_is_bad(t):
    assert grade_for_score(t, t.Quality.CHECK_MIN_SCORE - 0.5)[1] == "BAD"


def test_grade_boundaries_follow_overrides():
    from resources.thresholds import load_thresholds

    strict = load_thresholds(env={"INVOICE_THRESHOLD__QUALITY__OK_MIN_SCORE": "90"})
    assert grade_for_score(strict, 85.0)[1] == "CHECK"
    assert grade_for_score(strict, 90.0)[1] == "OK"


def test_real_flags_land_on_the_grade_boundaries(t):
    """MISSING_FIELDS (20) alone gives 80; two S1 flags (50 + 50) give 0."""
    ev = evaluate_records([make_record(invoice={"invoice_no": None})], t)
    expected = expected_score(["MISSING_FIELDS"])
    assert score(ev) == expected
    grade = "OK" if expected >= t.Quality.OK_MIN_SCORE else "CHECK"
    assert ev.scores.loc[0, "quality_grade"] == grade


def test_no_flags_scores_everyone_100(t):
    empty = pd.DataFrame(
        {
            "row": pd.Series(dtype="int64"),
            "flag": pd.Series(dtype="object"),
            "severity": pd.Series(dtype="object"),
            "deduction": pd.Series(dtype="int64"),
            "priority": pd.Series(dtype="int64"),
        }
    )
    scores = score_invoices(empty, 3, t)
    assert list(scores["quality_score"]) == [100.0] * 3
    assert list(scores["quality_grade"]) == ["OK"] * 3
    assert list(scores["flag_count"]) == [0, 0, 0]
