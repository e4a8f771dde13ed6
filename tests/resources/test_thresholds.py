"""``resources/thresholds.py``: the shipped config loads, and every broken config is refused.

Broken configs are the shipped ``config/thresholds.yaml`` with a few values changed, written to
``tmp_path``; environment overrides are passed as ``env={...}`` so ``os.environ`` is never read.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from invoice_assets.domain.thresholds import (
    SECTIONS,
    Thresholds,
    ThresholdsError,
    Violation,
    validate_values,
)
from resources.thresholds import DEFAULT_FILE, ThresholdsResource, check_thresholds, load_thresholds

SHIPPED = Path(__file__).resolve().parents[2] / "config" / "thresholds.yaml"
DELETE = object()  # in ``write_config`` changes: remove the key or section


def shipped() -> dict[str, dict[str, Any]]:
    return yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))


def write_config(tmp_path: Path, changes: dict[str, Any], name: str = "thresholds.yaml") -> Path:
    """The shipped config with ``{"Section.KEY": value}`` changes; ``DELETE`` removes the key."""
    raw = copy.deepcopy(shipped())
    for dotted, value in changes.items():
        section, _, key = dotted.partition(".")
        if not key:
            if value is DELETE:
                del raw[section]
            else:
                raw[section] = value
        elif value is DELETE:
            del raw[section][key]
        else:
            raw.setdefault(section, {})[key] = value
    path = tmp_path / name
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def violations_of(path: Path, env: dict[str, str] | None = None) -> list[Violation]:
    model, violations, _ = check_thresholds(path, env=env or {})
    assert (model is None) == bool(violations)
    return violations


def assert_rejected(path: Path, rule: str, shown: list[str], env: dict[str, str] | None = None):
    """The config raises, and a ``rule`` violation names each ``KEY=value`` (or ``KEY``) shown."""
    with pytest.raises(ThresholdsError) as caught:
        load_thresholds(path, env=env or {})
    matching = [v for v in caught.value.violations if v.rule == rule]
    assert matching, f"no {rule} among {caught.value.violations}"
    for text in shown:
        key, _, value = text.partition("=")
        named = [v for v in matching if key in v.keys and (not value or text in v.message)]
        assert named, (text, matching)
    assert f"[{rule}]" in str(caught.value)
    return caught.value.violations


def rules(violations: list[Violation]) -> set[str]:
    return {v.rule for v in violations}


# --- the shipped config --------------------------------------------------------------------------


def test_shipped_config_loads_with_the_documented_values():
    thresholds = load_thresholds(env={})
    assert thresholds.Mismatch.RATIO == 0.05
    assert thresholds.Mismatch.SEVERE_ABSOLUTE == 500.0
    assert thresholds.Drift.MIN_SAMPLE == 20
    assert isinstance(thresholds.Drift.MIN_SAMPLE, int)
    assert thresholds.Validation.MIN_DIST_PRICE == 0.0
    assert thresholds.Health.DB_ERROR_MS == 500


def test_shipped_config_is_the_default_file_and_has_no_violations():
    model, violations, source = check_thresholds(env={})
    assert violations == []
    assert model is not None
    assert Path(source).resolve() == SHIPPED == DEFAULT_FILE.resolve()


def test_flat_view_names_every_key_of_the_yaml_file_once():
    flat = load_thresholds(env={}).flat()
    expected = {f"{s}.{k}": v for s, body in shipped().items() for k, v in body.items()}
    assert flat == expected


def test_model_has_no_defaults_so_the_yaml_file_is_the_only_source():
    for section, model in SECTIONS.items():
        for key, field in model.model_fields.items():
            assert field.is_required(), f"{section}.{key} has a default"
    assert all(field.is_required() for field in Thresholds.model_fields.values())


def test_loaded_thresholds_are_frozen():
    thresholds = load_thresholds(env={})
    with pytest.raises(ValidationError):
        thresholds.Mismatch.RATIO = 0.5  # type: ignore[misc]


# --- one test per invariant ----------------------------------------------------------------------


def test_severe_ratio_below_ratio_is_rejected_as_i1(tmp_path):
    path = write_config(tmp_path, {"Mismatch.SEVERE_RATIO": 0.04})
    found = assert_rejected(path, "I1", ["Mismatch.SEVERE_RATIO=0.04", "Mismatch.RATIO=0.05"])
    assert rules(found) == {"I1"}


def test_severe_absolute_below_absolute_is_rejected_as_i2(tmp_path):
    path = write_config(tmp_path, {"Mismatch.SEVERE_ABSOLUTE": 40.0})
    found = assert_rejected(path, "I2", ["Mismatch.SEVERE_ABSOLUTE=40", "Mismatch.ABSOLUTE=50"])
    assert rules(found) == {"I2"}


def test_rounding_ratio_above_ratio_is_rejected_as_i3(tmp_path):
    path = write_config(tmp_path, {"Mismatch.ROUNDING_RATIO": 0.06})
    found = assert_rejected(path, "I3", ["Mismatch.ROUNDING_RATIO=0.06", "Mismatch.RATIO=0.05"])
    assert rules(found) == {"I3"}


def test_min_unit_price_above_max_is_rejected_as_i4(tmp_path):
    path = write_config(tmp_path, {"Validation.MIN_UNIT_PRICE": 20.0})
    found = assert_rejected(
        path, "I4", ["Validation.MIN_UNIT_PRICE=20", "Validation.MAX_UNIT_PRICE=15"]
    )
    assert rules(found) == {"I4"}


def test_min_dist_price_above_max_is_rejected_as_i5(tmp_path):
    path = write_config(tmp_path, {"Validation.MIN_DIST_PRICE": 6.0})
    found = assert_rejected(
        path, "I5", ["Validation.MIN_DIST_PRICE=6", "Validation.MAX_DIST_PRICE=5"]
    )
    assert rules(found) == {"I5"}


def test_hard_stop_delta_below_severe_ratio_percent_is_rejected_as_i6(tmp_path):
    path = write_config(tmp_path, {"Validation.HARD_STOP_DELTA": 15.0})
    found = assert_rejected(
        path, "I6", ["Validation.HARD_STOP_DELTA=15", "Mismatch.SEVERE_RATIO=0.2"]
    )
    assert rules(found) == {"I6"}


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("Mismatch.ABSOLUTE", -50.0),  # an amount
        ("Mismatch.RATIO", 0.0),  # a ratio
        ("Drift.MIN_SAMPLE", 0),  # a count
        ("Alert.BUG_REPORT_RATE", -0.1),  # a rate
        ("Recovery.STUCK_MINUTES", 0),  # minutes
        ("Validation.LINE_CONSISTENCY_TOLERANCE", 0.0),  # a percentage
        ("Health.DB_WARN_MS", 0),  # milliseconds
    ],
)
def test_zero_or_negative_threshold_is_rejected_as_i7(tmp_path, key, value):
    path = write_config(tmp_path, {key: value})
    assert_rejected(path, "I7", [f"{key}={value:g}"])


def test_low_confidence_outside_zero_one_is_rejected_as_i8(tmp_path):
    path = write_config(tmp_path, {"Validation.LOW_CONFIDENCE": 1.5})
    found = assert_rejected(path, "I8", ["Validation.LOW_CONFIDENCE=1.5"])
    assert rules(found) == {"I8"}


def test_ok_score_below_check_score_is_rejected_as_i9(tmp_path):
    path = write_config(tmp_path, {"Quality.OK_MIN_SCORE": 40})
    found = assert_rejected(path, "I9", ["Quality.CHECK_MIN_SCORE=50", "Quality.OK_MIN_SCORE=40"])
    assert rules(found) == {"I9"}


def test_db_warn_at_or_above_db_error_is_rejected_as_i10(tmp_path):
    path = write_config(tmp_path, {"Health.DB_WARN_MS": 600})
    found = assert_rejected(path, "I10", ["Health.DB_WARN_MS=600", "Health.DB_ERROR_MS=500"])
    assert rules(found) == {"I10"}


def test_unknown_key_is_rejected_as_i11(tmp_path):
    path = write_config(tmp_path, {"Mismatch.RATIOO": 0.05})
    found = assert_rejected(path, "I11", ["Mismatch.RATIOO"])
    assert [str(v) for v in found] == ["[I11] Mismatch.RATIOO: unknown key"]


def test_missing_key_is_rejected_as_i11(tmp_path):
    path = write_config(tmp_path, {"Drift.MIN_SAMPLE": DELETE})
    found = assert_rejected(path, "I11", ["Drift.MIN_SAMPLE"])
    assert [str(v) for v in found] == ["[I11] Drift.MIN_SAMPLE: missing key"]


def test_unknown_section_is_rejected_as_i11(tmp_path):
    path = write_config(tmp_path, {"Mismatches": {"RATIO": 0.05}})
    found = assert_rejected(path, "I11", ["Mismatches"])
    assert [str(v) for v in found] == ["[I11] Mismatches: unknown section"]


def test_missing_section_is_rejected_as_i11(tmp_path):
    path = write_config(tmp_path, {"Health": DELETE})
    found = assert_rejected(path, "I11", ["Health"])
    assert [str(v) for v in found] == ["[I11] Health: missing section"]


def test_section_that_is_not_a_mapping_is_rejected_as_i11(tmp_path):
    path = write_config(tmp_path, {"Health": [100, 500]})
    assert_rejected(path, "I11", ["Health"])


# --- boundaries ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {"Mismatch.SEVERE_RATIO": 0.05},  # I1: SEVERE_RATIO == RATIO
        {"Mismatch.SEVERE_ABSOLUTE": 50.0},  # I2: SEVERE_ABSOLUTE == ABSOLUTE
        {"Mismatch.SEVERE_RATIO": 0.14, "Validation.HARD_STOP_DELTA": 14.0},  # I6: 0.14×100 ≈ 14
        {"Mismatch.SEVERE_RATIO": 0.07, "Validation.HARD_STOP_DELTA": 7.0},  # I6: 0.07×100 ≈ 7
        {"Validation.MIN_DIST_PRICE": 0},  # I7: the one threshold that may be 0
        {"Validation.LOW_CONFIDENCE": 0.01},  # I8: just inside
        {"Validation.LOW_CONFIDENCE": 0.99},  # I8: just inside
        {"Quality.CHECK_MIN_SCORE": 0},  # I9: 0 ≤ CHECK_MIN_SCORE
        {"Quality.OK_MIN_SCORE": 100},  # I9: OK_MIN_SCORE ≤ 100
        {"Quality.CHECK_MIN_SCORE": 79, "Quality.OK_MIN_SCORE": 80},  # I9: just below
        {"Health.DB_WARN_MS": 499},  # I10: just below
        {"Drift.MIN_SAMPLE": 20.0},  # a whole float is a fine count
    ],
    ids=lambda changes: ",".join(f"{k}={v}" for k, v in changes.items()),
)
def test_boundary_values_that_satisfy_the_invariants_load(tmp_path, changes):
    path = write_config(tmp_path, changes)
    thresholds = load_thresholds(path, env={})
    for dotted, value in changes.items():
        section, key = dotted.split(".")
        assert getattr(getattr(thresholds, section), key) == value


def test_whole_float_count_is_loaded_as_an_int(tmp_path):
    thresholds = load_thresholds(write_config(tmp_path, {"Drift.MIN_SAMPLE": 20.0}), env={})
    assert thresholds.Drift.MIN_SAMPLE == 20
    assert isinstance(thresholds.Drift.MIN_SAMPLE, int)


@pytest.mark.parametrize(
    ("changes", "rule", "shown"),
    [
        (
            {"Mismatch.ROUNDING_RATIO": 0.05},
            "I3",
            ["Mismatch.ROUNDING_RATIO=0.05", "Mismatch.RATIO=0.05"],
        ),
        (
            {"Validation.MIN_UNIT_PRICE": 15.0},
            "I4",
            ["Validation.MIN_UNIT_PRICE=15", "Validation.MAX_UNIT_PRICE=15"],
        ),
        (
            {"Validation.MIN_DIST_PRICE": 5.0},
            "I5",
            ["Validation.MIN_DIST_PRICE=5", "Validation.MAX_DIST_PRICE=5"],
        ),
        ({"Validation.HARD_STOP_DELTA": 19.99}, "I6", ["Validation.HARD_STOP_DELTA=19.99"]),
        ({"Validation.MIN_DIST_PRICE": -0.1}, "I7", ["Validation.MIN_DIST_PRICE=-0.1"]),
        ({"Validation.MAX_DIST_PRICE": 0.0}, "I7", ["Validation.MAX_DIST_PRICE=0"]),
        ({"Validation.LOW_CONFIDENCE": 0.0}, "I8", ["Validation.LOW_CONFIDENCE=0"]),
        ({"Validation.LOW_CONFIDENCE": 1.0}, "I8", ["Validation.LOW_CONFIDENCE=1"]),
        ({"Quality.CHECK_MIN_SCORE": -1}, "I9", ["Quality.CHECK_MIN_SCORE=-1"]),
        ({"Quality.OK_MIN_SCORE": 101}, "I9", ["Quality.OK_MIN_SCORE=101"]),
        ({"Quality.CHECK_MIN_SCORE": 80}, "I9", ["Quality.CHECK_MIN_SCORE=80"]),
        ({"Health.DB_WARN_MS": 500}, "I10", ["Health.DB_WARN_MS=500", "Health.DB_ERROR_MS=500"]),
    ],
    ids=lambda p: ",".join(f"{k}={v}" for k, v in p.items()) if isinstance(p, dict) else None,
)
def test_boundary_values_that_break_an_invariant_are_rejected(tmp_path, changes, rule, shown):
    assert_rejected(write_config(tmp_path, changes), rule, shown)


# --- all violations together ---------------------------------------------------------------------


def test_several_broken_values_are_all_reported_together(tmp_path):
    path = write_config(
        tmp_path,
        {
            "Mismatch.SEVERE_RATIO": 0.01,  # I1 (and I6 is still fine: 20 ≥ 1)
            "Validation.MIN_UNIT_PRICE": 99.0,  # I4
            "Health.DB_WARN_MS": 900,  # I10
            "Recovery.MAX_RECOMPUTE": "five",  # type
            "Alert.TYPO": 1,  # I11
        },
    )
    with pytest.raises(ThresholdsError) as caught:
        load_thresholds(path, env={})
    found = caught.value.violations
    assert len(found) >= 5
    assert rules(found) >= {"I1", "I4", "I10", "I11", "type"}
    assert f"{len(found)} threshold violation(s) in {path}" in str(caught.value)
    for violation in found:
        assert str(violation) in str(caught.value)


def test_file_and_environment_problems_are_reported_together(tmp_path):
    path = write_config(tmp_path, {"Quality.OK_MIN_SCORE": 10})
    env = {"INVOICE_THRESHOLD__NOPE__RATIO": "1", "INVOICE_THRESHOLD__HEALTH__DB_WARN_MS": "700"}
    assert rules(violations_of(path, env)) == {"I9", "I10", "I11"}


# --- types ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("Mismatch.RATIO", "0.05"),
        ("Mismatch.RATIO", True),
        ("Mismatch.RATIO", None),
        ("Mismatch.RATIO", [0.05]),
        ("Drift.MIN_SAMPLE", 20.5),
        ("Recovery.STUCK_MINUTES", "10"),
    ],
    ids=repr,
)
def test_value_of_the_wrong_type_is_rejected(tmp_path, key, value):
    found = violations_of(write_config(tmp_path, {key: value}))
    assert [(v.rule, v.keys) for v in found] == [("type", (key,))]
    assert repr(value) in found[0].message


@pytest.mark.parametrize("text", [".nan", ".inf", "-.inf", "abc", "true", ""])
def test_non_finite_or_non_numeric_environment_value_is_rejected(text):
    found = violations_of(DEFAULT_FILE, {"INVOICE_THRESHOLD__MISMATCH__RATIO": text})
    assert [(v.rule, v.keys) for v in found] == [("type", ("Mismatch.RATIO",))]


def test_validate_values_refuses_a_document_that_is_not_a_mapping():
    model, found = validate_values([1, 2])
    assert model is None
    assert [(v.rule, v.keys) for v in found] == [("I11", ("<root>",))]


# --- overrides -----------------------------------------------------------------------------------


def test_environment_override_replaces_one_value():
    thresholds = load_thresholds(env={"INVOICE_THRESHOLD__MISMATCH__RATIO": "0.06"})
    assert thresholds.Mismatch.RATIO == 0.06
    assert thresholds.Mismatch.ABSOLUTE == 50.0


@pytest.mark.parametrize(
    "name",
    [
        "INVOICE_THRESHOLD__MISMATCH__RATIO",
        "INVOICE_THRESHOLD__mismatch__ratio",
        "INVOICE_THRESHOLD__Mismatch__Ratio",
    ],
)
def test_environment_override_names_match_sections_and_keys_in_any_case(name):
    assert load_thresholds(env={name: "0.06"}).Mismatch.RATIO == 0.06


def test_environment_override_of_a_count_is_parsed_as_a_number():
    thresholds = load_thresholds(env={"INVOICE_THRESHOLD__DRIFT__MIN_SAMPLE": "30"})
    assert thresholds.Drift.MIN_SAMPLE == 30


@pytest.mark.parametrize(
    "name",
    [
        "INVOICE_THRESHOLD__MISMATCH__RATIOO",
        "INVOICE_THRESHOLD__MISMATCHES__RATIO",
        "INVOICE_THRESHOLD__MISMATCH",
        "INVOICE_THRESHOLD__MISMATCH__RATIO__EXTRA",
        "INVOICE_THRESHOLD____RATIO",
    ],
)
def test_environment_override_naming_an_unknown_key_is_rejected_as_i11(name):
    found = violations_of(DEFAULT_FILE, {name: "0.06"})
    assert [(v.rule, v.keys) for v in found] == [("I11", (name,))]


def test_environment_override_is_validated_like_the_file():
    env = {"INVOICE_THRESHOLD__MISMATCH__SEVERE_RATIO": "0.01"}
    with pytest.raises(ThresholdsError) as caught:
        load_thresholds(env=env)
    assert rules(caught.value.violations) == {"I1"}
    assert "Mismatch.SEVERE_RATIO=0.01" in caught.value.violations[0].message


def test_unrelated_environment_variables_are_ignored():
    env = {"INVOICE_THRESHOLDX__MISMATCH__RATIO": "9", "PATH": "/bin", "INVOICE_THRESHOLD": "1"}
    assert load_thresholds(env=env) == load_thresholds(env={})


def test_thresholds_file_variable_points_to_another_file(tmp_path):
    other = write_config(tmp_path, {"Mismatch.RATIO": 0.07}, name="other.yaml")
    model, violations, source = check_thresholds(env={"INVOICE_THRESHOLDS_FILE": str(other)})
    assert violations == []
    assert model is not None and model.Mismatch.RATIO == 0.07
    assert source == str(other)


def test_environment_override_applies_on_top_of_the_other_file(tmp_path):
    other = write_config(tmp_path, {"Mismatch.RATIO": 0.07}, name="other.yaml")
    env = {"INVOICE_THRESHOLDS_FILE": str(other), "INVOICE_THRESHOLD__MISMATCH__ABSOLUTE": "60"}
    thresholds = load_thresholds(env=env)
    assert (thresholds.Mismatch.RATIO, thresholds.Mismatch.ABSOLUTE) == (0.07, 60.0)


def test_process_environment_is_read_when_no_env_is_given(tmp_path, monkeypatch):
    other = write_config(tmp_path, {"Mismatch.RATIO": 0.07}, name="other.yaml")
    for name in list(os.environ):
        if name.startswith("INVOICE_THRESHOLD"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("INVOICE_THRESHOLDS_FILE", str(other))
    monkeypatch.setenv("INVOICE_THRESHOLD__MISMATCH__SEVERE_RATIO", "0.15")
    thresholds = load_thresholds()
    assert (thresholds.Mismatch.RATIO, thresholds.Mismatch.SEVERE_RATIO) == (0.07, 0.15)


# --- files that cannot be read -------------------------------------------------------------------


def test_missing_file_is_a_violation_not_a_crash(tmp_path):
    missing = tmp_path / "nope.yaml"
    found = violations_of(missing)
    assert [(v.rule, v.keys) for v in found] == [("file", (str(missing),))]
    assert "cannot read" in found[0].message
    with pytest.raises(ThresholdsError):
        load_thresholds(env={"INVOICE_THRESHOLDS_FILE": str(missing)})


def test_directory_instead_of_a_file_is_a_violation_not_a_crash(tmp_path):
    assert rules(violations_of(tmp_path)) == {"file"}


def test_file_that_is_not_utf8_text_is_a_violation_not_a_crash(tmp_path):
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00Mismatch: {}")
    found = violations_of(binary)
    assert [(v.rule, v.keys) for v in found] == [("file", (str(binary),))]


def test_invalid_yaml_is_a_violation_not_a_crash(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("Mismatch:\n  RATIO: [0.05\n", encoding="utf-8")
    found = violations_of(broken)
    assert [(v.rule, v.keys) for v in found] == [("file", (str(broken),))]
    assert "not valid YAML" in found[0].message


@pytest.mark.parametrize("text", ["", "42\n", "- Mismatch\n"])
def test_document_that_is_not_a_mapping_of_sections_is_rejected_as_i11(tmp_path, text):
    path = tmp_path / "odd.yaml"
    path.write_text(text, encoding="utf-8")
    assert rules(violations_of(path)) == {"I11"}


# --- the resource --------------------------------------------------------------------------------


def test_resource_round_trips_to_an_equal_model():
    thresholds = load_thresholds(env={})
    resource = ThresholdsResource.from_thresholds(thresholds, source=str(DEFAULT_FILE))
    assert resource.get() == thresholds
    assert isinstance(resource.get().Drift.MIN_SAMPLE, int)
    assert resource.source == str(DEFAULT_FILE)


def test_resource_round_trips_an_overridden_model():
    thresholds = load_thresholds(env={"INVOICE_THRESHOLD__MISMATCH__RATIO": "0.06"})
    assert ThresholdsResource.from_thresholds(thresholds, source="env").get() == thresholds


def test_resource_with_broken_values_refuses_to_hand_them_out():
    values = load_thresholds(env={}).model_dump()
    values["Mismatch"]["SEVERE_RATIO"] = 0.01
    resource = ThresholdsResource(values=values, source="hand-built")
    with pytest.raises(ThresholdsError) as caught:
        resource.get()
    assert rules(caught.value.violations) == {"I1"}
    assert "hand-built" in str(caught.value)


# --- plausibility bounds (I12, I13) --------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "rule", "shown"),
    [
        (
            {"Validation.MAX_CONSUMPTION_KWH": 1e10},  # 1e10 kWh × 15 TL/kWh > 1e11 TL
            "I12",
            ["Validation.MAX_CONSUMPTION_KWH=1e+10", "Validation.MAX_AMOUNT_TL=1e+11"],
        ),
        (
            {"Validation.MAX_DEMAND_UNIT_PRICE": 1e6},  # 2e6 × 1e6 > 1e11 TL
            "I12",
            ["Validation.MAX_DEMAND_QTY=2e+06", "Validation.MAX_DEMAND_UNIT_PRICE=1e+06"],
        ),
        ({"Validation.MAX_AMOUNT_TL": 1e14}, "I13", ["Validation.MAX_AMOUNT_TL=1e+14"]),
        ({"Validation.MAX_CONSUMPTION_KWH": 0.0}, "I7", ["Validation.MAX_CONSUMPTION_KWH=0"]),
        ({"Validation.MAX_AMOUNT_TL": -1.0}, "I7", ["Validation.MAX_AMOUNT_TL=-1"]),
    ],
    ids=["kwh-times-price", "demand-times-price", "amount-not-exact", "zero", "negative"],
)
def test_plausibility_bounds_that_break_an_invariant_are_rejected(tmp_path, changes, rule, shown):
    assert_rejected(write_config(tmp_path, changes), rule, shown)


def test_plausibility_bounds_are_strict_keys_like_every_other(tmp_path):
    assert_rejected(write_config(tmp_path, {"Validation.MAX_AMOUNT_TL": DELETE}), "I11", [])
    found = violations_of(write_config(tmp_path, {"Validation.MAX_AMOUNT_TL": "1e11"}))
    assert [(v.rule, v.keys) for v in found] == [("type", ("Validation.MAX_AMOUNT_TL",))]


def test_the_shipped_plausibility_bounds_hold_a_plausible_invoice(tmp_path):
    v = load_thresholds(SHIPPED, env={}).Validation
    assert v.MAX_CONSUMPTION_KWH * v.MAX_UNIT_PRICE <= v.MAX_AMOUNT_TL
    assert v.MAX_DEMAND_QTY * v.MAX_DEMAND_UNIT_PRICE <= v.MAX_AMOUNT_TL


# --- bounded reading of the file (regular file, size, depth) -------------------------------------


def _file_violation(path: Path, env: dict[str, str] | None = None) -> str:
    model, found, _ = check_thresholds(path, env=env or {})
    assert model is None
    assert [v.rule for v in found] == ["file"], found
    return found[0].message


def test_a_deeply_nested_yaml_file_is_a_violation_not_a_recursion_error(tmp_path):
    path = tmp_path / "deep.yaml"
    path.write_text("Mismatch: " + "[" * 100_000 + "]" * 100_000 + "\n", encoding="utf-8")
    assert "nested deeper than" in _file_violation(path)


def test_a_deeply_nested_environment_override_is_a_type_violation(tmp_path):
    env = {"INVOICE_THRESHOLD__MISMATCH__RATIO": "[" * 100_000}
    found = violations_of(SHIPPED, env)
    assert [(v.rule, v.keys) for v in found] == [("type", ("Mismatch.RATIO",))]
    assert len(found[0].message) < 200  # the value is not echoed in full


def test_a_directory_is_a_violation(tmp_path):
    assert "a directory, not a regular file" in _file_violation(tmp_path)


def test_a_device_is_a_violation_without_reading_it():
    assert "not a regular file" in _file_violation(Path("/dev/zero"))


def test_a_fifo_without_a_writer_is_a_violation_without_waiting(tmp_path):
    import threading

    fifo = tmp_path / "thresholds.fifo"
    os.mkfifo(fifo)
    messages: list[str] = []
    # in a thread, so that a read that waits for a writer fails this test instead of hanging it
    reader = threading.Thread(target=lambda: messages.append(_file_violation(fifo)), daemon=True)
    reader.start()
    reader.join(timeout=30)
    assert not reader.is_alive(), "reading the thresholds waited for a FIFO writer"
    assert "not a regular file" in messages[0]


def test_a_file_over_the_size_limit_is_a_violation(tmp_path):
    from resources.config_file import MAX_BYTES

    path = tmp_path / "huge.yaml"
    with path.open("w", encoding="utf-8") as out:
        out.write(SHIPPED.read_text(encoding="utf-8"))
        out.write("#" * MAX_BYTES + "\n")
    assert "larger than" in _file_violation(path)
