"""Operator feedback on resolved incidents (SPEC §5.7): validation and statistics.

``validate_feedback`` turns a request body into a ``Feedback`` or raises ``FeedbackError`` with the
contract's code; ``feedback_stats`` computes hint accuracy and coverage. Who gave the feedback
and when are set by the caller from the authenticated operator and the server clock, never from
the body.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from invoice_assets.domain.arrays import rate
from invoice_assets.domain.errors import DomainError

ACTIONS = frozenset(
    {"VERIFIED_OCR", "VERIFIED_LOGIC", "ACCEPTED_ROUNDING", "ESCALATED", "NO_ACTION_REQUIRED"}
)
MAX_ROOT_CAUSE = 200
# Ten years: a longer resolution time is a wrong unit or a made-up number, and the bound keeps the
# value an exact float that every statistic (means per action class) can add up.
MAX_RESOLUTION_SECONDS = 10 * 366 * 24 * 3600
FIELDS = frozenset(
    {"action_taken", "was_hint_correct", "actual_root_cause", "resolution_time_seconds"}
)


class FeedbackError(DomainError):
    """A rejected feedback submission; ``code`` is the API error code (``incident_not_found``,
    ``incident_not_resolved``, ``invalid_feedback_data``)."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message, code)
        self.status = status  # 404 for a missing incident, else 400 (the API answers with it)


@dataclass(frozen=True)
class Feedback:
    action_taken: str
    was_hint_correct: bool
    actual_root_cause: str | None
    resolution_time_seconds: float | None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def require_resolved(status: str | None) -> None:
    """Only RESOLVED incidents accept feedback."""
    if status is None:
        raise FeedbackError("incident_not_found", "no such incident", status=404)
    if status != "RESOLVED":
        raise FeedbackError("incident_not_resolved", f"incident is {status}, not RESOLVED")


def validate_feedback(body: Any) -> Feedback:
    if not isinstance(body, Mapping):
        raise FeedbackError("invalid_feedback_data", "body must be a JSON object")
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise FeedbackError("invalid_feedback_data", f"unknown fields: {unknown}")
    action = body.get("action_taken")
    if not isinstance(action, str) or action not in ACTIONS:
        raise FeedbackError(
            "invalid_feedback_action",
            f"action_taken must be one of {sorted(ACTIONS)}, got {action!r}",
        )
    correct = body.get("was_hint_correct")
    if not isinstance(correct, bool):
        raise FeedbackError(
            "invalid_feedback_data", "was_hint_correct is required and must be a boolean"
        )
    cause = body.get("actual_root_cause")
    if cause is not None and (
        not isinstance(cause, str) or len(cause) > MAX_ROOT_CAUSE or not _storable_text(cause)
    ):
        raise FeedbackError(
            "invalid_feedback_data",
            f"actual_root_cause must be UTF-8 text without NUL, at most {MAX_ROOT_CAUSE} chars",
        )
    seconds = body.get("resolution_time_seconds")
    if seconds is not None and (
        isinstance(seconds, bool)
        or not isinstance(seconds, int | float)
        or not _finite(seconds)
        or not 0 <= seconds <= MAX_RESOLUTION_SECONDS
    ):
        raise FeedbackError(
            "invalid_feedback_data",
            f"resolution_time_seconds must be a number in [0, {MAX_RESOLUTION_SECONDS}] (10 years)",
        )
    return Feedback(action, correct, cause, None if seconds is None else float(seconds))


def _storable_text(text: str) -> bool:
    """Text every store keeps as is: valid UTF-8 (no lone surrogates) and no NUL."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _finite(value: float) -> bool:
    """A finite float; an integer too large for a float (JSON allows 10**400) is not."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def feedback_stats(incidents: pd.DataFrame) -> dict[str, Any]:
    """Accuracy and coverage over ``status``, ``action_class``, ``has_feedback``,
    ``was_hint_correct`` and ``resolution_time_seconds`` columns."""
    resolved = incidents["status"] == "RESOLVED"
    with_fb = incidents[incidents["has_feedback"].astype(bool)]
    correct = with_fb["was_hint_correct"].astype(bool)
    per_class = {}
    for action_class, group in with_fb.groupby("action_class", sort=True):
        times = pd.to_numeric(group["resolution_time_seconds"], errors="coerce").dropna()
        per_class[str(action_class)] = {
            "feedback_count": len(group),
            "accuracy": rate(group["was_hint_correct"].astype(bool).sum(), len(group)),
            "mean_resolution_time_seconds": float(times.mean()) if len(times) else 0.0,
        }
    resolved_with_fb = int((resolved & incidents["has_feedback"].astype(bool)).sum())
    return {
        "incident_count": len(incidents),
        "resolved_count": int(resolved.sum()),
        "feedback_count": len(with_fb),
        "hint_accuracy_rate": rate(correct.sum(), len(with_fb)),
        "feedback_coverage": rate(resolved_with_fb, int(resolved.sum())),
        "by_action_class": per_class,
    }
