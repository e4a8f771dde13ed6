"""Confidence from checks (EXTRACTION-FACTS §7): one composition for every offline reader.

What it is for: turning "which checks held for this field" into a confidence and an evidence
string, the same way for the text, HTML, XML, QR and OCR paths. A field no check supports stays
below LOW_CONFIDENCE (so the existing flags send it to review); a field whose checks fail falls
further; each check that holds lifts it above. ``adjust_field`` lets a later reader (the QR
payload) raise or lower one field of a finished record and say why in its evidence.

Not for: running the checks (the readers do, with their own numbers).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from invoice_assets.domain.records import MAX_EVIDENCE

METHOD_DISCOUNT = {"ocr": 0.9}  # OCR reads glyphs: the same checks earn a little less


def low_confidence_default() -> float:
    """LOW_CONFIDENCE of ``config/thresholds.yaml`` (read when asked, never at import; kept
    while the file and the ``INVOICE_THRESHOLD*`` environment stay the same)."""
    from resources.thresholds import thresholds_path

    path = thresholds_path()
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        stamp = -1
    env = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("INVOICE_THRESHOLD")))
    return _low_confidence(str(path), stamp, env)


@lru_cache(maxsize=4)
def _low_confidence(path: str, stamp: int, env: tuple[tuple[str, str], ...]) -> float:
    from resources.thresholds import load_thresholds

    return float(load_thresholds(path, dict(env)).Validation.LOW_CONFIDENCE)


def compose_confidence(
    checks: Mapping[str, bool], *, low_confidence: float, method: str = "text"
) -> float:
    """The confidence a field earns from its checks (name → held).

    No check: just below ``low_confidence``. Only failures: half of it. Mixed: just below it.
    Only passes: above it, rising with each further check that held (at most four count).
    """
    passed = sum(1 for held in checks.values() if held)
    failed = len(checks) - passed
    if failed and not passed:
        return round(low_confidence * 0.5, 4)
    if failed or not passed:
        return round(low_confidence * (0.9 if failed else 0.85), 4)
    lift = (0.6 + 0.1 * min(passed - 1, 3)) * METHOD_DISCOUNT.get(method, 1.0)
    return round(min(0.99, low_confidence + (1.0 - low_confidence) * lift), 4)


def describe_checks(checks: Mapping[str, bool]) -> str:
    if not checks:
        return "no check applies"
    return "; ".join(f"{name} {'held' if held else 'FAILED'}" for name, held in checks.items())


def evidence_text(printed: str, checks: Mapping[str, bool], note: str | None = None) -> str:
    """``<printed line> [checks: ...] (note)``, cut to the record's evidence limit."""
    tail = f" [checks: {describe_checks(checks)}]" + (f" ({note})" if note else "")
    room = MAX_EVIDENCE - len(tail)
    return (printed[: max(0, room - 1)] + "…" if len(printed) > room else printed) + tail


def field_value(
    value: float | None,
    checks: Mapping[str, bool],
    *,
    printed: str,
    page: int | None,
    low_confidence: float,
    method: str = "text",
    note: str | None = None,
) -> dict[str, Any]:
    """One SPEC §4.1 field: ``{"value", "confidence", "evidence", "page"}``."""
    if value is None:
        return {"value": None, "confidence": 0.0, "evidence": None, "page": None}
    return {
        "value": float(value),
        "confidence": compose_confidence(checks, low_confidence=low_confidence, method=method),
        "evidence": evidence_text(printed, checks, note),
        "page": page,
    }


def adjust_field(
    record: dict[str, Any],
    field: str,
    *,
    value: float | None = None,
    confidence: float,
    note: str,
) -> dict[str, Any]:
    """Set one field's confidence (and value, when given) and append ``note`` to its evidence.

    For a later source that agrees or disagrees with the text (a QR payload's ``vergidahil``):
    ``adjust_field(rec, "invoice_total_with_vat_tl", confidence=0.3, note="QR vergidahil
    1284315.00 disagrees")``. The record is changed in place and returned.
    """
    if not 0.0 <= confidence <= 1.0:
        raise ValueError(f"confidence {confidence!r} outside 0..1")
    fields = record.setdefault("extraction", {})
    current = dict(fields.get(field) or {"value": None, "confidence": 0.0})
    if value is not None:
        current["value"] = float(value)
    current["confidence"] = float(confidence)
    evidence = current.get("evidence") or ""
    suffix = f" | {note}"
    if len(evidence) + len(suffix) > MAX_EVIDENCE:
        evidence = evidence[: max(0, MAX_EVIDENCE - len(suffix) - 1)] + "…"
    current["evidence"] = (evidence + suffix)[-MAX_EVIDENCE:] if evidence else note[:MAX_EVIDENCE]
    current.setdefault("page", None)
    fields[field] = current
    return record
