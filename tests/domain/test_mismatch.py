"""``domain/mismatch.py``: the total-mismatch rule of SPEC §5.3 at its boundaries.

Boundaries are computed from the live thresholds; each "at" case first asserts that the ratio
(or delta) the rule sees really equals the threshold, so a float slip cannot make the test
silently test something else.
"""

from __future__ import annotations

import numpy as np
import pytest

from invoice_assets.domain.mismatch import (
    LINE_ITEM_MISSING_SHARE,
    LOCALE_BAND,
    REASONS,
    assess_mismatch,
    mismatch_info,
)
from tests.domain.conftest import evaluate_records, make_record, values

NUDGE = 1e-6  # relative step for "just below / just above"


def assess(t, total, computed, vat=0.0, conf=0.95):
    """One invoice through ``assess_mismatch``; returns its row as a dict."""
    frame = assess_mismatch(
        np.array([total], dtype=float),
        np.array([computed], dtype=float),
        np.array([vat], dtype=float),
        np.array([conf], dtype=float),
        t,
    )
    row = frame.iloc[0].to_dict()
    for name in ("mismatch_severity", "delta_reason_candidate", "suspect_reason"):
        [row[name]] = values([row[name]])
    return row


def ratio_of(total, computed):
    return abs(total - computed) / max(total, 0.01)


# --- RATIO ---------------------------------------------------------------------------------------


def ratio_case(t, scale):
    """A small invoice whose delta stays below ABSOLUTE, with ratio = RATIO × scale."""
    m = t.Mismatch
    total = 100.0
    delta = m.RATIO * total * scale
    assert delta < m.ABSOLUTE and delta / total >= m.ROUNDING_RATIO
    return total, total - delta


def test_ratio_just_below_threshold_is_no_mismatch(t):
    total, computed = ratio_case(t, 1 - NUDGE)
    row = assess(t, total, computed)
    assert not row["has_mismatch"]
    assert row["delta_reason_candidate"] == "EXPLAINABLE_ADJUSTMENT"


def test_ratio_at_threshold_is_s2(t):
    total, computed = ratio_case(t, 1.0)
    assert ratio_of(total, computed) == t.Mismatch.RATIO
    row = assess(t, total, computed)
    assert row["has_mismatch"] and row["mismatch_severity"] == "S2"


def test_ratio_just_above_threshold_is_s2(t):
    total, computed = ratio_case(t, 1 + NUDGE)
    row = assess(t, total, computed)
    assert row["has_mismatch"] and row["mismatch_severity"] == "S2"


# --- ABSOLUTE ------------------------------------------------------------------------------------


def absolute_case(t, delta):
    """A large invoice whose ratio stays below RATIO."""
    total = 1_000_000.0
    assert delta / total < t.Mismatch.RATIO and delta >= t.Mismatch.ROUNDING_DELTA
    return total, total - delta


def test_delta_just_below_absolute_is_no_mismatch(t):
    row = assess(t, *absolute_case(t, t.Mismatch.ABSOLUTE * (1 - NUDGE)))
    assert not row["has_mismatch"]
    assert row["delta_reason_candidate"] == "EXPLAINABLE_ADJUSTMENT"


def test_delta_at_absolute_is_s2(t):
    total, computed = absolute_case(t, t.Mismatch.ABSOLUTE)
    assert abs(total - computed) == t.Mismatch.ABSOLUTE
    row = assess(t, total, computed)
    assert row["has_mismatch"] and row["mismatch_severity"] == "S2"


def test_delta_just_above_absolute_is_s2(t):
    row = assess(t, *absolute_case(t, t.Mismatch.ABSOLUTE * (1 + NUDGE)))
    assert row["has_mismatch"] and row["mismatch_severity"] == "S2"


# --- SEVERE_RATIO (with delta well above SEVERE_ABSOLUTE) ----------------------------------------


def severe_ratio_case(t, scale):
    m = t.Mismatch
    total = 100_000.0
    delta = m.SEVERE_RATIO * total * scale
    assert delta >= m.SEVERE_ABSOLUTE
    return total, total - delta


def test_ratio_just_below_severe_ratio_stays_s2(t):
    row = assess(t, *severe_ratio_case(t, 1 - NUDGE))
    assert row["mismatch_severity"] == "S2"


def test_ratio_at_severe_ratio_is_s1(t):
    total, computed = severe_ratio_case(t, 1.0)
    assert ratio_of(total, computed) == t.Mismatch.SEVERE_RATIO
    assert assess(t, total, computed)["mismatch_severity"] == "S1"


def test_ratio_just_above_severe_ratio_is_s1(t):
    assert assess(t, *severe_ratio_case(t, 1 + NUDGE))["mismatch_severity"] == "S1"


# --- SEVERE_ABSOLUTE (with ratio well above SEVERE_RATIO) ----------------------------------------


def severe_absolute_case(t, delta):
    total = 2 * t.Mismatch.SEVERE_ABSOLUTE
    assert delta / total >= t.Mismatch.SEVERE_RATIO
    return total, total - delta


def test_delta_just_below_severe_absolute_stays_s2(t):
    row = assess(t, *severe_absolute_case(t, t.Mismatch.SEVERE_ABSOLUTE * (1 - NUDGE)))
    assert row["mismatch_severity"] == "S2"


def test_delta_at_severe_absolute_is_s1(t):
    total, computed = severe_absolute_case(t, t.Mismatch.SEVERE_ABSOLUTE)
    assert abs(total - computed) == t.Mismatch.SEVERE_ABSOLUTE
    assert assess(t, total, computed)["mismatch_severity"] == "S1"


def test_delta_just_above_severe_absolute_is_s1(t):
    row = assess(t, *severe_absolute_case(t, t.Mismatch.SEVERE_ABSOLUTE * (1 + NUDGE)))
    assert row["mismatch_severity"] == "S1"


# --- S1 needs both severe conditions -------------------------------------------------------------


def test_small_invoice_with_huge_ratio_stays_s2(t):
    total = t.Mismatch.SEVERE_ABSOLUTE / 2  # delta can never reach SEVERE_ABSOLUTE
    computed = total * 0.3
    row = assess(t, total, computed)
    assert ratio_of(total, computed) >= t.Mismatch.SEVERE_RATIO
    assert row["has_mismatch"] and row["mismatch_severity"] == "S2"


def test_large_invoice_with_large_delta_but_small_ratio_stays_s2(t):
    total = 10_000_000.0
    delta = 10 * t.Mismatch.SEVERE_ABSOLUTE
    row = assess(t, total, total - delta)
    assert delta / total < t.Mismatch.SEVERE_RATIO
    assert row["mismatch_severity"] == "S2"


def test_s2_fixture_stays_s2_below_severe_ratio(t):
    """Seed §5: delta 8 000 at 16 % is S2 (with "or" it would wrongly be S1)."""
    row = assess(t, 50_000.0, 42_000.0, vat=7_000.0, conf=0.88)
    assert row["mismatch_delta"] == 8_000.0
    assert row["mismatch_ratio"] == pytest.approx(0.16)
    assert row["mismatch_severity"] == "S2"


# --- ROUNDING_DELTA / ROUNDING_RATIO -------------------------------------------------------------


def rounding_delta_case(t, delta):
    """Large invoice: ratio stays below ROUNDING_RATIO, so only the delta decides."""
    total = 1_000_000.0
    assert delta / total < t.Mismatch.ROUNDING_RATIO and delta < t.Mismatch.ABSOLUTE
    return total, total - delta


def test_delta_just_below_rounding_delta_is_rounding(t):
    row = assess(t, *rounding_delta_case(t, t.Mismatch.ROUNDING_DELTA * (1 - NUDGE)))
    assert not row["has_mismatch"] and row["delta_reason_candidate"] == "ROUNDING"


def test_delta_at_rounding_delta_is_not_rounding(t):
    total, computed = rounding_delta_case(t, t.Mismatch.ROUNDING_DELTA)
    assert abs(total - computed) == t.Mismatch.ROUNDING_DELTA
    row = assess(t, total, computed)
    assert not row["has_mismatch"]
    assert row["delta_reason_candidate"] == "EXPLAINABLE_ADJUSTMENT"


def test_delta_just_above_rounding_delta_is_not_rounding(t):
    row = assess(t, *rounding_delta_case(t, t.Mismatch.ROUNDING_DELTA * (1 + NUDGE)))
    assert row["delta_reason_candidate"] == "EXPLAINABLE_ADJUSTMENT"


def rounding_ratio_case(t, scale):
    """Small delta (below ROUNDING_DELTA): only the ratio decides."""
    m = t.Mismatch
    total = 1_000.0
    delta = m.ROUNDING_RATIO * total * scale
    assert delta < m.ROUNDING_DELTA and delta < m.ABSOLUTE
    return total, total - delta


def test_ratio_just_below_rounding_ratio_is_rounding(t):
    row = assess(t, *rounding_ratio_case(t, 1 - NUDGE))
    assert not row["has_mismatch"] and row["delta_reason_candidate"] == "ROUNDING"


def test_ratio_at_rounding_ratio_is_not_rounding(t):
    total, computed = rounding_ratio_case(t, 1.0)
    assert ratio_of(total, computed) == t.Mismatch.ROUNDING_RATIO
    row = assess(t, total, computed)
    assert not row["has_mismatch"]
    assert row["delta_reason_candidate"] == "EXPLAINABLE_ADJUSTMENT"


def test_ratio_just_above_rounding_ratio_is_not_rounding(t):
    row = assess(t, *rounding_ratio_case(t, 1 + NUDGE))
    assert row["delta_reason_candidate"] == "EXPLAINABLE_ADJUSTMENT"


def test_exact_match_is_rounding(t):
    row = assess(t, 46_461.6, 46_461.6)
    assert row["mismatch_delta"] == 0.0
    assert not row["has_mismatch"] and row["delta_reason_candidate"] == "ROUNDING"


def test_mismatch_thresholds_follow_overrides():
    from resources.thresholds import load_thresholds

    stricter = load_thresholds(env={"INVOICE_THRESHOLD__MISMATCH__RATIO": "0.06"})
    total, computed = 100.0, 94.5  # ratio 0.055, delta 5.5 < ABSOLUTE
    assert computed < total and (total - computed) < stricter.Mismatch.ABSOLUTE
    assert not assess(stricter, total, computed)["has_mismatch"]
    shipped = load_thresholds()
    if (total - computed) / total >= shipped.Mismatch.RATIO:
        assert assess(shipped, total, computed)["has_mismatch"]


# --- delta reason candidates, first match in order -----------------------------------------------


def reason_cases(t):
    m = t.Mismatch
    return {
        "ROUNDING": (100_000.0, 100_000.0 - m.ROUNDING_DELTA / 2, 0.0),
        "EXPLAINABLE_ADJUSTMENT": (1_000_000.0, 1_000_000.0 - m.ABSOLUTE / 2, 0.0),
        "LOCALE_SCALE": (42_000.0, 4_200.0, 700.0),
        "VAT_CALCULATION": (49_000.0, 42_000.0, 7_000.0),  # VAT applied twice
        "LINE_ITEM_MISSING": (50_000.0, 42_000.0, 7_000.0),  # the seed's S2 fixture
        "ADJUSTMENT": (1_000.0, 900.0, 150.0),
        "UNKNOWN": (100_000.0, 95_000.0, 16_000.0),
    }


@pytest.mark.parametrize("reason", REASONS)
def test_each_reason_candidate_is_reached(t, reason):
    total, computed, vat = reason_cases(t)[reason]
    assert assess(t, total, computed, vat=vat)["delta_reason_candidate"] == reason


def test_reason_candidates_are_checked_in_order(t):
    """A locale slip that also equals the VAT is LOCALE_SCALE (earlier in the list)."""
    row = assess(t, 10_000.0, 1_000.0, vat=9_000.0)
    assert row["delta_reason_candidate"] == "LOCALE_SCALE"
    # a VAT-sized delta that is also > 15 % is VAT_CALCULATION, not LINE_ITEM_MISSING
    row = assess(t, 35_000.0, 42_000.0, vat=7_000.0)
    assert row["mismatch_ratio"] > LINE_ITEM_MISSING_SHARE
    assert row["delta_reason_candidate"] == "VAT_CALCULATION"


def test_missing_vat_is_vat_calculation(t):
    row = assess(t, 35_000.0, 42_000.0, vat=7_000.0)
    assert row["has_mismatch"] and row["delta_reason_candidate"] == "VAT_CALCULATION"


def test_ratio_at_line_item_share_is_not_line_item_missing(t):
    total = 100_000.0
    computed = total * (1 - LINE_ITEM_MISSING_SHARE)
    row = assess(t, total, computed)
    assert row["mismatch_ratio"] <= LINE_ITEM_MISSING_SHARE
    assert row["delta_reason_candidate"] == "UNKNOWN"


# --- OCR suspect ---------------------------------------------------------------------------------


def test_low_confidence_with_mismatch_is_ocr_suspect(t):
    conf = t.Validation.LOW_CONFIDENCE - 0.01
    row = assess(t, 50_000.0, 42_000.0, vat=7_000.0, conf=conf)
    assert row["suspect_reason"] == "OCR_LOCALE_SUSPECT"


def test_confidence_at_threshold_is_not_ocr_suspect(t):
    row = assess(t, 50_000.0, 42_000.0, vat=7_000.0, conf=t.Validation.LOW_CONFIDENCE)
    assert row["has_mismatch"] and row["suspect_reason"] is None


def test_low_confidence_without_mismatch_is_not_ocr_suspect(t):
    row = assess(t, 42_000.0, 42_000.0, conf=0.1)
    assert not row["has_mismatch"] and row["suspect_reason"] is None


@pytest.mark.parametrize("scale", [10.0, 100.0, 1000.0, 0.1, 0.01, 0.001])
def test_power_of_ten_ratio_is_ocr_suspect_even_with_high_confidence(t, scale):
    computed = 42_000.0
    row = assess(t, computed * scale, computed, vat=7_000.0, conf=0.99)
    assert row["has_mismatch"]
    assert row["suspect_reason"] == "OCR_LOCALE_SUSPECT"
    assert row["delta_reason_candidate"] == "LOCALE_SCALE"


def test_power_of_ten_band_edges(t):
    computed = 42_000.0
    inside = assess(t, computed * 10 * (1 + LOCALE_BAND * 0.9), computed, conf=0.99)
    outside = assess(t, computed * 10 * (1 + LOCALE_BAND * 1.5), computed, conf=0.99)
    assert inside["suspect_reason"] == "OCR_LOCALE_SUSPECT"
    assert outside["suspect_reason"] is None
    assert outside["delta_reason_candidate"] != "LOCALE_SCALE"


# --- not evaluated, vectorised, mismatch_info ----------------------------------------------------


@pytest.mark.parametrize("total", [np.nan, 0.0, -100.0])
def test_missing_or_non_positive_total_is_not_evaluated(t, total):
    row = assess(t, total, 42_000.0)
    assert not row["mismatch_evaluated"] and not row["has_mismatch"]
    assert row["delta_reason_candidate"] is None
    assert np.isnan(row["mismatch_ratio"])


def test_rows_are_independent(t):
    totals = np.array([42_000.0, 50_000.0, 100_000.0])
    frame = assess_mismatch(
        totals, np.full(3, 42_000.0), np.full(3, 7_000.0), np.array([0.9, 0.9, 0.5]), t
    )
    assert values(frame["mismatch_severity"]) == [None, "S2", "S1"]
    assert values(frame["suspect_reason"]) == [None, None, "OCR_LOCALE_SUSPECT"]


def test_mismatch_info_end_to_end_through_a_record(t):
    clean = make_record()
    total = clean["extraction"]["invoice_total_with_vat_tl"]["value"]
    ev = evaluate_records([make_record(invoice_total_with_vat_tl=round(total * 1.1, 2))], t)
    info = mismatch_info(ev.invoice_view().iloc[0])
    assert info["has_mismatch"] and info["severity"] == "S2"
    assert info["computed_total"] == round(total, 2)
    assert info["delta"] == pytest.approx(round(total * 0.1, 2), abs=0.01)
    assert "suspect_reason" not in info
    assert set(info) == {
        "has_mismatch",
        "invoice_total",
        "computed_total",
        "delta",
        "ratio",
        "severity",
        "delta_reason_candidate",
    }
