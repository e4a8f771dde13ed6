"""``domain/incidents.py`` and ``domain/hints.py``: incidents, dedupe keys, action hints and the
rerun reconciliation of SPEC §5.5.

``FakeStore`` applies ``reconcile_incidents`` results the way the store does (upsert by dedupe key,
then the resolved rows' state), so reruns can be simulated without a database.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pandas as pd
import pytest

from invoice_assets.domain.flags import CATALOGUE
from invoice_assets.domain.hints import MAX_CHECKS, build_hint, mismatch_action_class
from invoice_assets.domain.incidents import (
    ACK,
    INCIDENT_COLUMNS,
    MANUAL_RESOLVED,
    OPEN,
    RECOMPUTE_RESOLVED,
    RESOLVED,
    STATE_COLUMNS,
    dedupe_key,
    past_recompute_limit,
    re_arrivals,
    reconcile_incidents,
)
from tests.domain.conftest import evaluate_records, make_record

UNIT = "current_active_unit_price_tl_per_kwh"
TOTAL = "invoice_total_with_vat_tl"
CLEAN_TOTAL = make_record()["extraction"][TOTAL]["value"]
T0 = pd.Timestamp("2025-02-10 09:00", tz="Europe/Istanbul")


def mismatched(scale: float = 1.1, **kw: Any) -> dict:
    return make_record(**{TOTAL: CLEAN_TOTAL * scale}, **kw)


def only(ev) -> dict:
    assert len(ev.incidents) == 1, ev.incidents
    return ev.incidents.iloc[0].to_dict()


# --- building incidents --------------------------------------------------------------------------


def test_clean_invoice_gets_no_incident(t):
    ev = evaluate_records([make_record()], t)
    assert ev.incidents.empty
    assert list(ev.incidents.columns) == ["row", *INCIDENT_COLUMNS]


def test_s3_only_invoice_gets_no_incident(t):
    ev = evaluate_records([make_record(conf={TOTAL: 0.3}, demand_qty=10.0)], t)
    assert set(ev.flags["severity"]) == {"S3"}
    assert ev.incidents.empty


def test_one_incident_per_invoice_with_s1_or_s2(t):
    recs = [
        make_record(invoice={"invoice_no": "CLEAN"}),
        mismatched(invoice={"invoice_no": "S2"}),
        make_record(invoice={"invoice_no": "S3"}, conf={TOTAL: 0.3}),
        mismatched(1.5, invoice={"invoice_no": "S1"}),
    ]
    ev = evaluate_records(recs, t)
    assert list(ev.incidents["row"]) == [1, 3]
    assert list(ev.incidents["severity"]) == ["S2", "S1"]
    assert list(ev.incidents["invoice_key"]) == list(ev.invoices["invoice_key"].iloc[[1, 3]])


def test_primary_is_the_lowest_priority_and_secondary_are_ordered(t):
    record = make_record(
        invoice={"invoice_no": None, "ettn": None},
        consumption_kwh=None,
        energy_total_tl=30_000.0,
        distribution_total_tl=8_418.0,
        **{UNIT: 40.0},
        conf={TOTAL: 0.3},
    )
    incident = only(evaluate_records([record], t))
    assert incident["primary_flag"] == "CONSUMPTION_MISSING"
    assert incident["severity"] == CATALOGUE["CONSUMPTION_MISSING"].severity
    # S3 flags (LOW_CONFIDENCE, VALIDATION_WARNINGS) are not secondary flags
    assert incident["secondary_flags"] == ["MISSING_FIELDS", "VALIDATION_FAILED"]
    priorities = [CATALOGUE[f].priority for f in incident["secondary_flags"]]
    assert priorities == sorted(priorities)


def test_severity_is_the_primary_flags(t):
    incident = only(
        evaluate_records([mismatched(1.1, **{"distribution_unit_price_tl_per_kwh": 1.2})], t)
    )
    assert incident["primary_flag"] == "INVOICE_TOTAL_MISMATCH"
    assert incident["severity"] == "S2"
    assert incident["secondary_flags"] == ["DISTRIBUTION_MISMATCH"]


def test_s1_mismatch_outranks_nothing_above_it(t):
    incident = only(evaluate_records([mismatched(1.5, invoice={"invoice_no": None})], t))
    assert incident["primary_flag"] == "INVOICE_TOTAL_MISMATCH"
    assert incident["severity"] == "S1"
    assert incident["secondary_flags"] == ["MISSING_FIELDS"]


def test_extraction_failed_incident_keeps_the_error_code(t):
    incident = only(evaluate_records([b"%PDF-1.4\n..."], t))
    assert incident["primary_flag"] == "EXTRACTION_FAILED"
    assert incident["severity"] == "S1"
    assert incident["error_code"] == "extractor_unavailable"
    assert incident["action_class"] == CATALOGUE["EXTRACTION_FAILED"].action
    assert incident["mismatch_info"] is None


def test_mismatch_incident_carries_mismatch_info(t):
    incident = only(evaluate_records([mismatched(1.1)], t))
    info = incident["mismatch_info"]
    assert info["has_mismatch"] and info["severity"] == "S2"
    assert info["computed_total"] == round(CLEAN_TOTAL, 2)
    assert incident["error_code"] is None


# --- dedupe key ----------------------------------------------------------------------------------


def test_dedupe_key_is_sha256_of_tenant_invoice_key_and_primary_flag(t):
    incident = only(evaluate_records([mismatched()], t, tenant="acme"))
    raw = f"acme|{incident['invoice_key']}|INVOICE_TOTAL_MISMATCH".encode()
    assert incident["dedupe_key"] == hashlib.sha256(raw).hexdigest()
    assert incident["dedupe_key"] == dedupe_key(
        "acme", incident["invoice_key"], "INVOICE_TOTAL_MISMATCH"
    )


def test_dedupe_key_is_stable_across_reruns(t):
    first = only(evaluate_records([mismatched()], t))
    second = only(evaluate_records([mismatched()], t))
    assert first["dedupe_key"] == second["dedupe_key"]


def test_dedupe_key_differs_by_tenant_invoice_and_flag(t):
    keys = {
        dedupe_key("a", "inv-1", "CALC_BUG"),
        dedupe_key("b", "inv-1", "CALC_BUG"),
        dedupe_key("a", "inv-2", "CALC_BUG"),
        dedupe_key("a", "inv-1", "MISSING_FIELDS"),
    }
    assert len(keys) == 4


# --- action hints --------------------------------------------------------------------------------


def test_hint_is_deterministic(t):
    recs = [mismatched(1.1), mismatched(2.3, invoice={"invoice_no": "B"}, conf={TOTAL: 0.4})]
    first = evaluate_records(recs, t).incidents
    second = evaluate_records(recs, t).incidents
    assert list(first["action_hint"]) == list(second["action_hint"])
    assert list(first["dedupe_key"]) == list(second["dedupe_key"])


def test_ocr_suspect_mismatch_hint_is_verify_ocr(t):
    incident = only(evaluate_records([mismatched(1.5, conf={TOTAL: 0.5})], t))
    hint = incident["action_hint"]
    assert (hint["action_class"], hint["primary_suspect"]) == ("VERIFY_OCR", "OCR_LOCALE_SUSPECT")
    assert incident["action_class"] == "VERIFY_OCR"
    assert 0 < len(hint["recommended_checks"]) <= MAX_CHECKS
    assert "0.50" in hint["confidence_note"]


def test_locale_slip_hint_is_verify_ocr_even_with_high_confidence(t):
    hint = only(evaluate_records([mismatched(10.0)], t))["action_hint"]
    assert hint["action_class"] == "VERIFY_OCR"


def test_logic_mismatch_hint_puts_the_reason_check_first(t):
    incident = only(evaluate_records([mismatched(1.1)], t))
    hint = incident["action_hint"]
    assert (hint["action_class"], hint["primary_suspect"]) == (
        "VERIFY_INVOICE_LOGIC",
        "INVOICE_LOGIC",
    )
    assert incident["mismatch_info"]["delta_reason_candidate"] == "UNKNOWN"
    assert hint["recommended_checks"][0].startswith("Recompute the invoice by hand")
    assert len(hint["recommended_checks"]) <= MAX_CHECKS
    assert len(set(hint["recommended_checks"])) == len(hint["recommended_checks"])


def test_rounding_action_class_is_chosen_within_rounding_tolerance(t):
    m = t.Mismatch
    frame = pd.DataFrame(
        {
            "mismatch_delta": [m.ROUNDING_DELTA / 2, m.ROUNDING_DELTA, 1_000.0],
            "mismatch_ratio": [m.ROUNDING_RATIO / 2, m.ROUNDING_RATIO / 2, 0.3],
            "suspect_reason": [None, None, "OCR_LOCALE_SUSPECT"],
        }
    )
    assert list(mismatch_action_class(frame, t)) == [
        "ACCEPT_ROUNDING_TOLERANCE",
        "VERIFY_INVOICE_LOGIC",
        "VERIFY_OCR",
    ]


@pytest.mark.parametrize(
    ("action_class", "suspect"),
    [
        ("VERIFY_OCR", "OCR_LOCALE_SUSPECT"),
        ("ACCEPT_ROUNDING_TOLERANCE", "ROUNDING"),
        ("VERIFY_INVOICE_LOGIC", "INVOICE_LOGIC"),
    ],
)
@pytest.mark.parametrize(
    "reason",
    ["LOCALE_SCALE", "VAT_CALCULATION", "LINE_ITEM_MISSING", "ADJUSTMENT", "UNKNOWN", None],
)
def test_every_hint_has_at_most_five_checks_and_is_repeatable(action_class, suspect, reason):
    hint = build_hint("INVOICE_TOTAL_MISMATCH", action_class, reason, "note")
    assert hint == build_hint("INVOICE_TOTAL_MISMATCH", action_class, reason, "note")
    assert hint["primary_suspect"] == suspect
    assert 1 <= len(hint["recommended_checks"]) <= MAX_CHECKS


@pytest.mark.parametrize(
    ("reason", "first_words"),
    [
        ("LOCALE_SCALE", "Look for a decimal"),
        ("VAT_CALCULATION", "Check VAT"),
        ("LINE_ITEM_MISSING", "Look for charges"),
        ("ADJUSTMENT", "Look for adjustments"),
        ("UNKNOWN", "Recompute"),
    ],
)
def test_logic_checks_lead_with_the_reason(reason, first_words):
    hint = build_hint("INVOICE_TOTAL_MISMATCH", "VERIFY_INVOICE_LOGIC", reason, "note")
    assert hint["recommended_checks"][0].startswith(first_words)


def test_other_primary_flags_carry_their_catalogue_action(t):
    record = make_record(
        consumption_kwh=None, energy_total_tl=30_000.0, distribution_total_tl=8_418.0
    )
    hint = only(evaluate_records([record], t))["action_hint"]
    spec = CATALOGUE["CONSUMPTION_MISSING"]
    assert (hint["action_class"], hint["owner"]) == (spec.action, spec.owner)
    assert hint["primary_suspect"] == "CONSUMPTION_MISSING"


# --- reconciliation across reruns ----------------------------------------------------------------


class FakeStore:
    """Stored incident state by dedupe key, updated the way the store applies a reconciliation."""

    COLUMNS = ("dedupe_key", "invoice_key", *STATE_COLUMNS)

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}
        self.clock = T0

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(list(self.rows.values()), columns=list(self.COLUMNS))

    def run(self, recs, t) -> tuple[pd.DataFrame, pd.DataFrame]:
        self.clock += pd.Timedelta(hours=1)
        ev = evaluate_records(recs, t)
        up, gone = reconcile_incidents(
            self.frame(), ev.incidents, ev.invoices["invoice_key"], self.clock, t
        )
        for row in up.to_dict("records"):
            self.rows[row["dedupe_key"]] = {c: row[c] for c in self.COLUMNS}
        for row in gone.to_dict("records"):
            self.rows[row["dedupe_key"]].update({c: row[c] for c in STATE_COLUMNS})
        return up, gone

    def only(self) -> dict[str, Any]:
        assert len(self.rows) == 1
        return next(iter(self.rows.values()))

    def operator(self, key: str, status: str, reason: str | None = None) -> None:
        row = self.rows[key]
        row["status"] = status
        if status == RESOLVED:
            row["resolution_reason"] = reason
            row["resolved_at"] = self.clock


def test_first_run_opens_the_incident(t):
    store = FakeStore()
    up, gone = store.run([mismatched()], t)
    assert gone.empty
    row = up.iloc[0]
    assert (row["status"], row["occurrence_count"], row["recompute_count"]) == (OPEN, 1, 0)
    assert not row["recompute_limit_exceeded"]
    assert row["first_seen_at"] == row["last_seen_at"] == store.clock


def test_rerun_increments_occurrence_count_and_keeps_first_seen(t):
    store = FakeStore()
    store.run([mismatched()], t)
    first_seen = store.only()["first_seen_at"]
    up, _ = store.run([mismatched()], t)
    row = up.iloc[0]
    assert row["occurrence_count"] == 2
    assert row["status"] == OPEN
    assert row["first_seen_at"] == first_seen
    assert row["last_seen_at"] == store.clock > first_seen


def test_rerun_keeps_an_acknowledged_status(t):
    store = FakeStore()
    up, _ = store.run([mismatched()], t)
    store.operator(up.iloc[0]["dedupe_key"], ACK)
    up, _ = store.run([mismatched()], t)
    assert up.iloc[0]["status"] == ACK
    assert up.iloc[0]["occurrence_count"] == 2


def test_rerun_keeps_a_manual_resolution(t):
    store = FakeStore()
    up, _ = store.run([mismatched()], t)
    key = up.iloc[0]["dedupe_key"]
    store.operator(key, RESOLVED, MANUAL_RESOLVED)
    resolved_at = store.rows[key]["resolved_at"]
    up, gone = store.run([mismatched()], t)
    row = up.iloc[0]
    assert (row["status"], row["resolution_reason"]) == (RESOLVED, MANUAL_RESOLVED)
    assert row["resolved_at"] == resolved_at
    assert row["occurrence_count"] == 2
    assert not row["recompute_limit_exceeded"]
    assert gone.empty


def test_open_incident_whose_flag_disappeared_is_recompute_resolved(t):
    store = FakeStore()
    store.run([mismatched()], t)
    up, gone = store.run([make_record()], t)  # the corrected invoice, same key
    assert up.empty
    assert len(gone) == 1
    row = gone.iloc[0]
    assert (row["status"], row["resolution_reason"]) == (RESOLVED, RECOMPUTE_RESOLVED)
    assert row["resolved_at"] == store.clock
    assert store.only()["status"] == RESOLVED


def test_acknowledged_incident_whose_flag_disappeared_is_recompute_resolved(t):
    store = FakeStore()
    up, _ = store.run([mismatched()], t)
    store.operator(up.iloc[0]["dedupe_key"], ACK)
    _, gone = store.run([make_record()], t)
    assert list(gone["resolution_reason"]) == [RECOMPUTE_RESOLVED]


def test_manually_resolved_incident_is_not_resolved_again(t):
    store = FakeStore()
    up, _ = store.run([mismatched()], t)
    store.operator(up.iloc[0]["dedupe_key"], RESOLVED, MANUAL_RESOLVED)
    _, gone = store.run([make_record()], t)
    assert gone.empty
    assert store.only()["resolution_reason"] == MANUAL_RESOLVED


def test_invoices_not_in_the_rerun_are_left_alone(t):
    store = FakeStore()
    other = mismatched(invoice={"invoice_no": "OTHER"})
    store.run([mismatched(), other], t)
    _, gone = store.run([make_record()], t)  # only the first invoice is reprocessed
    assert len(gone) == 1
    statuses = sorted(r["status"] for r in store.rows.values())
    assert statuses == [OPEN, RESOLVED]


def test_recompute_resolved_incident_that_reappears_is_reopened(t):
    store = FakeStore()
    store.run([mismatched()], t)
    store.run([make_record()], t)
    up, gone = store.run([mismatched()], t)
    row = up.iloc[0]
    assert row["status"] == OPEN
    assert pd.isna(row["resolution_reason"]) and pd.isna(row["resolved_at"])
    assert row["occurrence_count"] == 2
    assert gone.empty


def test_changed_primary_flag_opens_a_new_incident_and_resolves_the_old(t):
    store = FakeStore()
    up1, _ = store.run([mismatched()], t)
    changed = make_record(
        consumption_kwh=None, energy_total_tl=30_000.0, distribution_total_tl=8_418.0
    )
    up2, gone = store.run([changed], t)
    assert up2.iloc[0]["dedupe_key"] != up1.iloc[0]["dedupe_key"]
    assert list(gone["dedupe_key"]) == [up1.iloc[0]["dedupe_key"]]


def test_recompute_limit_exceeded_after_max_recompute_plus_one_reruns(t):
    store = FakeStore()
    store.run([mismatched()], t)
    limit = t.Recovery.MAX_RECOMPUTE
    for _ in range(limit):
        up, _ = store.run([mismatched()], t)
    assert up.iloc[0]["recompute_count"] == limit
    assert not up.iloc[0]["recompute_limit_exceeded"]
    up, _ = store.run([mismatched()], t)
    assert up.iloc[0]["recompute_count"] == limit + 1
    assert up.iloc[0]["recompute_limit_exceeded"]
    assert up.iloc[0]["occurrence_count"] == limit + 2


def test_resolved_incidents_do_not_count_recomputes(t):
    store = FakeStore()
    up, _ = store.run([mismatched()], t)
    store.operator(up.iloc[0]["dedupe_key"], RESOLVED, MANUAL_RESOLVED)
    for _ in range(t.Recovery.MAX_RECOMPUTE + 2):
        up, _ = store.run([mismatched()], t)
    assert up.iloc[0]["recompute_count"] == 0
    assert not up.iloc[0]["recompute_limit_exceeded"]


def test_reconcile_never_mutates_its_inputs(t):
    store = FakeStore()
    store.run([mismatched()], t)
    existing = store.frame()
    ev = evaluate_records([mismatched()], t)
    before_existing, before_computed = existing.copy(), ev.incidents.copy()
    reconcile_incidents(existing, ev.incidents, ev.invoices["invoice_key"], T0, t)
    pd.testing.assert_frame_equal(existing, before_existing)
    pd.testing.assert_frame_equal(ev.incidents, before_computed)


def test_reconcile_with_nothing_stored_and_nothing_computed(t):
    ev = evaluate_records([make_record()], t)
    up, gone = reconcile_incidents(
        pd.DataFrame(columns=list(FakeStore.COLUMNS)),
        ev.incidents,
        ev.invoices["invoice_key"],
        T0,
        t,
    )
    assert up.empty and gone.empty
    assert np.array_equal(gone.columns, ["dedupe_key", *STATE_COLUMNS, "expected_status"])


def test_a_recompute_resolved_incident_comes_back_as_a_reopening(t):
    store = FakeStore()
    store.run([mismatched()], t)
    store.run([make_record()], t)
    up, _ = store.run([mismatched()], t)
    assert list(up["reopen"]) == [True]


def test_a_recompute_resolution_confirmed_by_feedback_is_not_reopened(t):
    store = FakeStore()
    store.run([mismatched()], t)
    store.run([make_record()], t)
    existing = store.frame().assign(feedback_at=store.clock)  # an operator reviewed it
    ev = evaluate_records([mismatched()], t)
    up, gone = reconcile_incidents(existing, ev.incidents, ev.invoices["invoice_key"], T0, t)
    row = up.iloc[0]
    assert not row["reopen"]
    assert (row["status"], row["resolution_reason"]) == (RESOLVED, RECOMPUTE_RESOLVED)
    assert gone.empty


def test_a_resolution_names_the_status_it_expects_to_replace(t):
    store = FakeStore()
    up, _ = store.run([mismatched(), mismatched(invoice={"invoice_no": "OTHER"})], t)
    store.operator(up.iloc[1]["dedupe_key"], ACK)
    _, gone = store.run([make_record(), make_record(invoice={"invoice_no": "OTHER"})], t)
    expected = dict(zip(gone["dedupe_key"], gone["expected_status"], strict=True))
    assert expected == {up.iloc[0]["dedupe_key"]: OPEN, up.iloc[1]["dedupe_key"]: ACK}
    assert set(gone["status"]) == {RESOLVED}


def test_the_recompute_limit_rule_reads_counts_and_statuses_alike_everywhere(t):
    limit = t.Recovery.MAX_RECOMPUTE
    counts = np.array([limit, limit + 1, limit + 1, limit + 1])
    statuses = np.array([OPEN, OPEN, ACK, RESOLVED], dtype=object)
    assert past_recompute_limit(counts, statuses, limit).tolist() == [False, True, True, False]


# --- incidents stay on their first day (issue 17) ------------------------------------------------


def _on_day(recs, day: str, t) -> tuple[pd.DataFrame, pd.Series]:
    ev = evaluate_records(recs, t)
    return ev.incidents.assign(day=day), ev.invoices["invoice_key"]


STORED = ["dedupe_key", "invoice_key", "day", *STATE_COLUMNS]
NOTHING = pd.DataFrame(columns=STORED)


def _stored(up: pd.DataFrame) -> pd.DataFrame:
    return up[STORED]


def test_an_invoice_arriving_again_on_a_later_day_updates_its_incident_where_it_is(t):
    first, keys = _on_day([mismatched()], "2025-02-03", t)
    up, _ = reconcile_incidents(NOTHING, first, keys, T0, t)
    later, keys = _on_day([mismatched()], "2025-02-04", t)
    again, gone = reconcile_incidents(_stored(up), later, keys, T0 + pd.Timedelta(days=1), t)

    row = again.iloc[0]
    assert row["day"] == "2025-02-03"  # never moved to the later day
    assert bool(row["re_arrival"])
    assert (row["occurrence_count"], row["first_seen_at"]) == (2, T0)
    assert row["last_seen_at"] == T0 + pd.Timedelta(days=1)
    assert gone.empty
    assert re_arrivals(_stored(up), "2025-02-04") == 1
    assert re_arrivals(_stored(up), "2025-02-03") == 0  # a rerun of its own day is no re-arrival


def test_a_rerun_of_the_incidents_own_day_is_not_a_re_arrival(t):
    first, keys = _on_day([mismatched()], "2025-02-03", t)
    up, _ = reconcile_incidents(NOTHING, first, keys, T0, t)
    rerun, _ = reconcile_incidents(_stored(up), first, keys, T0, t)
    assert rerun["day"].tolist() == ["2025-02-03"]
    assert rerun["re_arrival"].tolist() == [False]
    assert rerun["occurrence_count"].tolist() == [2]


def test_a_new_incident_takes_the_day_it_is_raised_on(t):
    first, keys = _on_day([mismatched()], "2025-02-04", t)
    up, _ = reconcile_incidents(NOTHING, first, keys, T0, t)
    assert up["day"].tolist() == ["2025-02-04"]
    assert up["re_arrival"].tolist() == [False]


def test_a_re_arrival_that_is_now_clean_resolves_the_earlier_days_incident_there(t):
    first, keys = _on_day([mismatched()], "2025-02-03", t)
    up, _ = reconcile_incidents(NOTHING, first, keys, T0, t)
    clean, keys = _on_day([make_record()], "2025-02-04", t)
    again, gone = reconcile_incidents(_stored(up), clean, keys, T0, t)
    assert again.empty
    assert gone["status"].tolist() == [RESOLVED]
    assert re_arrivals(_stored(up), "2025-02-04") == 1  # counted on the later day all the same


def test_re_arrivals_count_invoices_not_incidents() -> None:
    existing = pd.DataFrame(
        {
            "dedupe_key": ["a", "b", "c"],
            "invoice_key": ["K1", "K1", "K2"],  # K1 has two incidents on the first day
            "day": ["2025-02-03", "2025-02-03", "2025-02-04"],
        }
    )
    assert re_arrivals(existing, "2025-02-04") == 1
    assert re_arrivals(existing, "2025-02-05") == 2
    assert re_arrivals(existing.iloc[:0], "2025-02-05") == 0
