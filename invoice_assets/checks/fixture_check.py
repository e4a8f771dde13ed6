"""The smoke-fixture expectations (SPEC §7) as a blocking check on ``incidents``.

The three seed fixtures go through the domain with the live thresholds and market data and must
give the expected outputs; if a threshold change breaks them, downstream assets do not run.
"""

from __future__ import annotations

from typing import Any

import dagster as dg

from invoice_assets.domain.market import MarketData
from invoice_assets.domain.pipeline import Evaluation, evaluate
from invoice_assets.services.smoke_fixtures import load_fixtures

SMOKE_CHECK = "smoke_fixture_expectations"


def compare(names: list[str], expected: dict[str, Any], evaluation: Evaluation) -> list[str]:
    """Every difference between what the fixtures gave and what they must give."""
    problems: list[str] = []
    view = evaluation.invoice_view()
    incidents = evaluation.incidents.set_index("row") if len(evaluation.incidents) else None
    for row, name in enumerate(names):
        want = expected[name]
        got = incidents.loc[row] if incidents is not None and row in incidents.index else None
        if want["incident_created"] != (got is not None):
            problems.append(
                f"{name}: incident_created {got is not None}, expected {want['incident_created']}"
            )
            continue
        if "quality_grade" in want and view.loc[row, "quality_grade"] != want["quality_grade"]:
            problems.append(
                f"{name}: grade {view.loc[row, 'quality_grade']}, expected {want['quality_grade']}"
            )
        if "mismatch" in want and bool(view.loc[row, "has_mismatch"]) != want["mismatch"]:
            problems.append(f"{name}: mismatch {bool(view.loc[row, 'has_mismatch'])}")
        if got is None:
            continue
        for key in ("severity", "primary_flag"):
            if got[key] != want[key]:
                problems.append(f"{name}: {key} {got[key]}, expected {want[key]}")
        for key, value in want.get("action_hint", {}).items():
            if got["action_hint"].get(key) != value:
                problems.append(
                    f"{name}: action_hint.{key} {got['action_hint'].get(key)}, expected {value}"
                )
        info = got["mismatch_info"] or {}
        for key, value in want.get("mismatch_info", {}).items():
            if info.get(key) != value:
                problems.append(f"{name}: mismatch_info.{key} {info.get(key)}, expected {value}")
    return problems


def smoke_expectations(thresholds: Any, market: MarketData) -> dg.AssetCheckResult:
    names, expected, invoices, lines = load_fixtures()
    problems = compare(
        names, expected, evaluate(invoices, lines, market, thresholds, tenant="smoke")
    )
    return dg.AssetCheckResult(
        check_name=SMOKE_CHECK,
        passed=not problems,
        severity=dg.AssetCheckSeverity.ERROR,
        description=(
            f"The {len(names)} seed fixtures give SPEC §7's outputs with the live thresholds."
            if not problems
            else f"{len(problems)} difference(s) from SPEC §7: {'; '.join(problems[:3])}"
        ),
        metadata={"fixtures": len(names), "problems": dg.MetadataValue.json(problems)},
    )
