"""Feedback validation and statistics (SPEC §5.7)."""

from __future__ import annotations

import pandas as pd
import pytest

from invoice_assets.domain.feedback import (
    ACTIONS,
    FeedbackError,
    feedback_stats,
    require_resolved,
    validate_feedback,
)

GOOD = {"action_taken": "VERIFIED_OCR", "was_hint_correct": True}


def _code(body: object) -> str:
    with pytest.raises(FeedbackError) as error:
        validate_feedback(body)
    return error.value.code


def test_every_documented_action_is_accepted() -> None:
    for action in sorted(ACTIONS):
        assert validate_feedback({**GOOD, "action_taken": action}).action_taken == action


def test_an_unknown_or_non_text_action_is_invalid_feedback_action() -> None:
    assert _code({**GOOD, "action_taken": "GUESSED"}) == "invalid_feedback_action"
    assert _code({**GOOD, "action_taken": ["VERIFIED_OCR"]}) == "invalid_feedback_action"
    assert _code({"was_hint_correct": True}) == "invalid_feedback_action"


@pytest.mark.parametrize(
    "body",
    [
        {"action_taken": "VERIFIED_OCR"},
        {**GOOD, "was_hint_correct": "yes"},
        {**GOOD, "was_hint_correct": 1},
        {**GOOD, "actual_root_cause": "x" * 201},
        {**GOOD, "actual_root_cause": 5},
        {**GOOD, "actual_root_cause": "a\x00b"},
        {**GOOD, "actual_root_cause": "\ud800"},
        {**GOOD, "resolution_time_seconds": -0.5},
        {**GOOD, "resolution_time_seconds": True},
        {**GOOD, "resolution_time_seconds": "60"},
        {**GOOD, "resolution_time_seconds": float("nan")},
        {**GOOD, "resolution_time_seconds": 10**400},
        {**GOOD, "feedback_by": "mallory"},
        ["not", "an", "object"],
        None,
    ],
)
def test_bad_feedback_data_is_rejected_with_invalid_feedback_data(body: object) -> None:
    assert _code(body) == "invalid_feedback_data"


def test_boundaries_of_root_cause_length_and_resolution_time_are_accepted() -> None:
    feedback = validate_feedback(
        {**GOOD, "actual_root_cause": "x" * 200, "resolution_time_seconds": 0}
    )
    assert feedback.resolution_time_seconds == 0.0
    assert len(feedback.actual_root_cause or "") == 200


def test_only_resolved_incidents_accept_feedback() -> None:
    require_resolved("RESOLVED")
    for status, code, http in [
        ("OPEN", "incident_not_resolved", 400),
        ("ACK", "incident_not_resolved", 400),
        (None, "incident_not_found", 404),
    ]:
        with pytest.raises(FeedbackError) as error:
            require_resolved(status)
        assert (error.value.code, error.value.status) == (code, http)


def _incidents(rows: list[tuple[str, str, bool, bool | None, float | None]]) -> pd.DataFrame:
    return pd.DataFrame(
        rows,
        columns=[
            "status",
            "action_class",
            "has_feedback",
            "was_hint_correct",
            "resolution_time_seconds",
        ],
    )


def test_stats_compute_accuracy_coverage_and_per_class_figures() -> None:
    stats = feedback_stats(
        _incidents(
            [
                ("RESOLVED", "VERIFY_OCR", True, True, 60.0),
                ("RESOLVED", "VERIFY_OCR", True, False, 180.0),
                ("RESOLVED", "VERIFY_INVOICE_LOGIC", True, True, 30.0),
                ("RESOLVED", "VERIFY_INVOICE_LOGIC", False, None, None),
                ("OPEN", "VERIFY_OCR", False, None, None),
            ]
        )
    )

    assert stats["resolved_count"] == 4
    assert stats["feedback_count"] == 3
    assert stats["hint_accuracy_rate"] == pytest.approx(2 / 3)
    assert stats["feedback_coverage"] == pytest.approx(3 / 4)
    assert stats["by_action_class"]["VERIFY_OCR"] == {
        "feedback_count": 2,
        "accuracy": 0.5,
        "mean_resolution_time_seconds": 120.0,
    }
    assert stats["by_action_class"]["VERIFY_INVOICE_LOGIC"]["accuracy"] == 1.0


def test_stats_are_zero_on_zero_denominators() -> None:
    stats = feedback_stats(_incidents([("OPEN", "VERIFY_OCR", False, None, None)]))
    assert stats["hint_accuracy_rate"] == 0.0
    assert stats["feedback_coverage"] == 0.0
    assert stats["by_action_class"] == {}
