"""The three seed smoke fixtures (``config/smoke``) give exactly ``config/smoke/expected.json``
through the domain with the live thresholds (SPEC §7).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from invoice_assets.domain import frames, pipeline, records
from invoice_assets.domain.mismatch import mismatch_info
from resources.market_data import load_market_data

SMOKE = Path(__file__).resolve().parents[2] / "config" / "smoke"
EXPECTED: dict[str, dict[str, Any]] = json.loads((SMOKE / "expected.json").read_text("utf-8"))
NAMES = sorted(EXPECTED)


@pytest.fixture(scope="module")
def outcome(t) -> dict[str, dict[str, Any]]:
    """Each fixture's facts, evaluated together in one batch as a partition would."""
    items: list[records.InboxItem] = []
    for name in NAMES:
        path = SMOKE / f"{name}.json"
        items.extend(records.parse_inbox_content(path.name, path.read_bytes(), 1_000_000))
    invoices, lines = frames.items_to_frames(records.mark_duplicates(items))
    ev = pipeline.evaluate(invoices, lines, load_market_data(), t)
    view = ev.invoice_view()
    out: dict[str, dict[str, Any]] = {}
    for row, name in enumerate(NAMES):
        incident = ev.incidents.loc[ev.incidents["row"] == row]
        out[name] = {
            "status": view.loc[row, "status"],
            "quality_grade": view.loc[row, "quality_grade"],
            "mismatch": mismatch_info(view.iloc[row]),
            "incident": incident.iloc[0].to_dict() if len(incident) else None,
            "incident_count": len(incident),
        }
    return out


def test_the_three_fixtures_are_present():
    assert NAMES == ["happy_path_invoice", "s1_ocr_suspect_invoice", "s2_mismatch_invoice"]
    for name in NAMES:
        assert (SMOKE / f"{name}.json").is_file()


@pytest.mark.parametrize("name", NAMES)
def test_fixture_parses_cleanly(outcome, name):
    assert outcome[name]["status"] == "ok"


@pytest.mark.parametrize("name", NAMES)
def test_incident_created_as_expected(outcome, name):
    expected = EXPECTED[name]["incident_created"]
    assert outcome[name]["incident_count"] == (1 if expected else 0)


@pytest.mark.parametrize("name", NAMES)
def test_mismatch_as_expected(outcome, name):
    info = outcome[name]["mismatch"]
    if "mismatch" in EXPECTED[name]:
        assert info["has_mismatch"] is EXPECTED[name]["mismatch"]
    for key, value in EXPECTED[name].get("mismatch_info", {}).items():
        assert info.get(key) == value, key


@pytest.mark.parametrize("name", [n for n in NAMES if EXPECTED[n]["incident_created"]])
def test_incident_severity_primary_flag_and_hint_as_expected(outcome, name):
    expected = EXPECTED[name]
    incident = outcome[name]["incident"]
    assert incident["severity"] == expected["severity"]
    assert incident["primary_flag"] == expected["primary_flag"]
    for key, value in expected["action_hint"].items():
        assert incident["action_hint"][key] == value, key
    assert incident["action_class"] == expected["action_hint"]["action_class"]
    for key, value in expected["mismatch_info"].items():
        assert incident["mismatch_info"].get(key) == value, key


def test_happy_path_is_grade_ok_without_mismatch(outcome):
    happy = outcome["happy_path_invoice"]
    assert happy["quality_grade"] == EXPECTED["happy_path_invoice"]["quality_grade"] == "OK"
    assert happy["mismatch"]["has_mismatch"] is False
    assert happy["mismatch"]["computed_total"] == 42_000.0


def test_s2_fixture_numbers(outcome):
    info = outcome["s2_mismatch_invoice"]["mismatch"]
    assert (info["invoice_total"], info["computed_total"]) == (50_000.0, 42_000.0)
    assert (info["delta"], info["ratio"], info["severity"]) == (8_000.0, 0.16, "S2")
    assert "suspect_reason" not in info


def test_s1_fixture_numbers(outcome):
    info = outcome["s1_ocr_suspect_invoice"]["mismatch"]
    assert (info["invoice_total"], info["computed_total"]) == (100_000.0, 42_000.0)
    assert (info["delta"], info["ratio"], info["severity"]) == (58_000.0, 0.58, "S1")
    assert info["suspect_reason"] == "OCR_LOCALE_SUSPECT"


def test_each_fixture_alone_gives_the_same_result(t, outcome):
    for name in NAMES:
        path = SMOKE / f"{name}.json"
        items = records.parse_inbox_content(path.name, path.read_bytes(), 1_000_000)
        invoices, lines = frames.items_to_frames(items)
        ev = pipeline.evaluate(invoices, lines, load_market_data(), t)
        assert mismatch_info(ev.invoice_view().iloc[0]) == outcome[name]["mismatch"]
        assert len(ev.incidents) == outcome[name]["incident_count"]
