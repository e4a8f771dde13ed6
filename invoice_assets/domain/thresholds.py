"""The thresholds model: the typed sections of ``config/thresholds.yaml``, their invariants and
the violations a refused config lists. Pure: no file, environment or Dagster here (the loading and
the resource live in ``resources/thresholds.py``).

The model has no defaults, so the YAML file is the single source of truth; ``validate_values``
checks a parsed document at once and returns the typed model or *every* violation (types, unknown
or missing keys, invariants I1–I13), each naming the keys and values involved.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError

from invoice_assets.domain.errors import DomainError

EXACT_KURUS_TL = 2**53 / 100  # the largest TL amount whose kuruş a float64 holds exactly


def _number(value: Any) -> float:
    """A real, finite number; booleans and strings are refused (a typo must not pass)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        shown = repr(value)
        shown = shown if len(shown) <= 80 else f"{shown[:77]}..."
        raise ValueError(f"expected a number, got {type(value).__name__} {shown}")
    if not math.isfinite(value):
        raise ValueError(f"expected a finite number, got {value!r}")
    return float(value)


def _count(value: Any) -> int:
    """A whole number (20 or 20.0, not 20.5)."""
    number = _number(value)
    if not number.is_integer():
        raise ValueError(f"expected a whole number, got {value!r}")
    return int(number)


Number = Annotated[float, BeforeValidator(_number)]
Count = Annotated[int, BeforeValidator(_count)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MismatchThresholds(_Section):
    """Total-mismatch rule (SPEC §5.3)."""

    RATIO: Number
    ABSOLUTE: Number
    SEVERE_RATIO: Number
    SEVERE_ABSOLUTE: Number
    ROUNDING_DELTA: Number
    ROUNDING_RATIO: Number


class DriftThresholds(_Section):
    """Triple-guard drift and top offenders (SPEC §5.6)."""

    MIN_SAMPLE: Count
    MIN_ABSOLUTE_DELTA: Count
    RATE_MULTIPLIER: Number
    TOP_OFFENDERS_MIN_INVOICES: Count


class AlertThresholds(_Section):
    """Digest alert thresholds."""

    BUG_REPORT_RATE: Number
    EXHAUSTED_RATE: Number
    STUCK_COUNT: Count
    RECOMPUTE_LIMIT: Count


class RecoveryThresholds(_Section):
    """Stuck detection and recompute limits."""

    STUCK_MINUTES: Count
    MAX_RECOMPUTE: Count


class ValidationThresholds(_Section):
    """Field validation (SPEC §5.1); tolerances are percentages."""

    LOW_CONFIDENCE: Number
    MIN_UNIT_PRICE: Number
    MAX_UNIT_PRICE: Number
    MIN_DIST_PRICE: Number
    MAX_DIST_PRICE: Number
    LINE_CONSISTENCY_TOLERANCE: Number
    HARD_STOP_DELTA: Number
    ENERGY_CROSSCHECK_TOLERANCE: Number
    DIST_TARIFF_TOLERANCE: Number
    # Plausibility bounds (absolute values): above them a field is a validation error, so an
    # absurd magnitude never reaches pricing (where it would overflow into CALC_BUG).
    MAX_CONSUMPTION_KWH: Number
    MAX_DEMAND_QTY: Number
    MAX_DEMAND_UNIT_PRICE: Number
    MAX_AMOUNT_TL: Number


class QualityThresholds(_Section):
    """Quality grade boundaries (SPEC §5.4)."""

    OK_MIN_SCORE: Number
    CHECK_MIN_SCORE: Number


class HealthThresholds(_Section):
    """Readiness database latency and free space (SPEC §5.9)."""

    DB_WARN_MS: Number
    DB_ERROR_MS: Number
    MIN_FREE_MB: Number


SECTIONS: dict[str, type[_Section]] = {
    "Mismatch": MismatchThresholds,
    "Drift": DriftThresholds,
    "Alert": AlertThresholds,
    "Recovery": RecoveryThresholds,
    "Validation": ValidationThresholds,
    "Quality": QualityThresholds,
    "Health": HealthThresholds,
}


@dataclass(frozen=True)
class Violation:
    """One reason a config is refused: which rule, which keys, what is wrong."""

    rule: str
    keys: tuple[str, ...]
    message: str

    def __str__(self) -> str:
        return f"[{self.rule}] {', '.join(self.keys)}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "keys": list(self.keys), "message": self.message}


class ThresholdsError(DomainError):
    """A config that must not load; ``violations`` lists every problem found."""

    code = "invalid_thresholds"

    def __init__(self, violations: list[Violation], source: str = "") -> None:
        self.violations = violations
        self.source = source
        lines = "\n".join(f"  - {v}" for v in violations)
        where = f" in {source}" if source else ""
        super().__init__(f"{len(violations)} threshold violation(s){where}:\n{lines}")


def _invariants(values: Mapping[str, Mapping[str, float]]) -> list[Violation]:
    """I1–I10, I12, I13 over whatever numeric values are present (missing ones are reported as
    I11)."""

    def get(section: str, key: str) -> float | None:
        value = values.get(section, {}).get(key)
        return value if isinstance(value, float | int) and not isinstance(value, bool) else None

    out: list[Violation] = []

    def rule(code: str, refs: list[tuple[str, str]], ok: Any, message: str) -> None:
        nums = [get(s, k) for s, k in refs]
        if any(n is None for n in nums):
            return
        if not ok(*nums):
            shown = ", ".join(f"{s}.{k}={n:g}" for (s, k), n in zip(refs, nums, strict=True))
            out.append(Violation(code, tuple(f"{s}.{k}" for s, k in refs), f"{message} ({shown})"))

    m, v = "Mismatch", "Validation"
    rule("I1", [(m, "SEVERE_RATIO"), (m, "RATIO")], lambda a, b: a >= b, "must be SEVERE ≥ base")
    rule(
        "I2",
        [(m, "SEVERE_ABSOLUTE"), (m, "ABSOLUTE")],
        lambda a, b: a >= b,
        "must be SEVERE ≥ base",
    )
    rule(
        "I3", [(m, "ROUNDING_RATIO"), (m, "RATIO")], lambda a, b: a < b, "rounding must be < ratio"
    )
    rule("I4", [(v, "MIN_UNIT_PRICE"), (v, "MAX_UNIT_PRICE")], lambda a, b: a < b, "need MIN < MAX")
    rule("I5", [(v, "MIN_DIST_PRICE"), (v, "MAX_DIST_PRICE")], lambda a, b: a < b, "need MIN < MAX")
    rule(
        "I6",
        [(v, "HARD_STOP_DELTA"), (m, "SEVERE_RATIO")],
        # isclose: 0.14 × 100 is 14.000000000000002 in floats, and equal values must pass
        lambda a, b: a >= b * 100 or math.isclose(a, b * 100),
        "hard stop (percent) must be ≥ SEVERE_RATIO × 100",
    )
    for section, model in SECTIONS.items():
        for key in model.model_fields:
            if (section, key) == ("Quality", "CHECK_MIN_SCORE"):
                continue  # a score, not a count/ratio/amount: I9 bounds it and allows 0
            if (section, key) == (v, "MIN_DIST_PRICE"):
                rule("I7", [(section, key)], lambda a: a >= 0, "must be ≥ 0")
            else:
                rule("I7", [(section, key)], lambda a: a > 0, "must be > 0")
    rule("I8", [(v, "LOW_CONFIDENCE")], lambda a: 0 < a < 1, "must be strictly between 0 and 1")
    rule(
        "I9",
        [("Quality", "CHECK_MIN_SCORE"), ("Quality", "OK_MIN_SCORE")],
        lambda c, o: 0 <= c < o <= 100,
        "need 0 ≤ CHECK_MIN_SCORE < OK_MIN_SCORE ≤ 100",
    )
    rule(
        "I10",
        [("Health", "DB_WARN_MS"), ("Health", "DB_ERROR_MS")],
        lambda a, b: a < b,
        "need DB_WARN_MS < DB_ERROR_MS",
    )
    plausible = "a plausible quantity at a plausible price must be a plausible amount"
    rule(
        "I12",
        [(v, "MAX_CONSUMPTION_KWH"), (v, "MAX_UNIT_PRICE"), (v, "MAX_AMOUNT_TL")],
        lambda kwh, price, amount: kwh * price <= amount or math.isclose(kwh * price, amount),
        f"need MAX_CONSUMPTION_KWH × MAX_UNIT_PRICE ≤ MAX_AMOUNT_TL ({plausible})",
    )
    rule(
        "I12",
        [(v, "MAX_DEMAND_QTY"), (v, "MAX_DEMAND_UNIT_PRICE"), (v, "MAX_AMOUNT_TL")],
        lambda qty, price, amount: qty * price <= amount or math.isclose(qty * price, amount),
        f"need MAX_DEMAND_QTY × MAX_DEMAND_UNIT_PRICE ≤ MAX_AMOUNT_TL ({plausible})",
    )
    rule(
        "I13",
        [(v, "MAX_AMOUNT_TL")],
        lambda amount: amount <= EXACT_KURUS_TL,
        f"must be ≤ {EXACT_KURUS_TL:.6g} TL (2**53 kuruş: larger amounts are not exact in "
        "a float64, and every sum of plausible amounts must stay finite)",
    )
    return out


class Thresholds(_Section):
    """Every decision threshold, validated; access mirrors the YAML (``t.Mismatch.RATIO``)."""

    Mismatch: MismatchThresholds
    Drift: DriftThresholds
    Alert: AlertThresholds
    Recovery: RecoveryThresholds
    Validation: ValidationThresholds
    Quality: QualityThresholds
    Health: HealthThresholds

    def flat(self) -> dict[str, float]:
        """``{"Mismatch.RATIO": 0.05, ...}`` for metadata and status screens."""
        return {
            f"{section}.{key}": value
            for section, values in self.model_dump().items()
            for key, value in values.items()
        }


def validate_values(raw: Any) -> tuple[Thresholds | None, list[Violation]]:
    """Validate a parsed document; returns the model or every violation found (never both)."""
    if not isinstance(raw, Mapping):
        return None, [Violation("I11", ("<root>",), "the config must be a mapping of sections")]
    violations: list[Violation] = []
    for section in raw:
        if section not in SECTIONS:
            violations.append(Violation("I11", (str(section),), "unknown section"))
    parsed: dict[str, dict[str, float]] = {}
    for section, model in SECTIONS.items():
        body = raw.get(section)
        if body is None:
            violations.append(Violation("I11", (section,), "missing section"))
            continue
        if not isinstance(body, Mapping):
            violations.append(Violation("I11", (section,), f"must be a mapping, got {body!r}"))
            continue
        parsed[section] = {}
        for key in body:
            if key not in model.model_fields:
                violations.append(Violation("I11", (f"{section}.{key}",), "unknown key"))
        for key in model.model_fields:
            if key not in body:
                violations.append(Violation("I11", (f"{section}.{key}",), "missing key"))
                continue
            try:
                parsed[section][key] = (_count if _is_count(model, key) else _number)(body[key])
            except ValueError as exc:
                violations.append(Violation("type", (f"{section}.{key}",), str(exc)))
    violations.extend(_invariants(parsed))
    if violations:
        return None, violations
    try:
        return Thresholds.model_validate(parsed), []
    except ValidationError as exc:  # pragma: no cover - every rule above mirrors the model
        return None, [Violation("type", ("<model>",), str(exc))]


def _is_count(model: type[_Section], key: str) -> bool:
    return model.model_fields[key].annotation is int
