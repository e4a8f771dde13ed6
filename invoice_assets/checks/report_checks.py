"""Checks on the reports: the run summary against the seed's schema, drift as WARN rates."""

from __future__ import annotations

from typing import Any

import dagster as dg

from invoice_assets.domain.summary import schema_errors

SUMMARY_SCHEMA_CHECK = "run_summary_schema"
DRIFT_CHECKS = {
    "S1_RATE_DRIFT": "s1_rate_drift",
    "OCR_SUSPECT_DRIFT": "ocr_suspect_rate_drift",
    "MISMATCH_RATE_DRIFT": "mismatch_rate_drift",
}


def summary_schema(summary: dict[str, Any]) -> dg.AssetCheckResult:
    problems = schema_errors(summary)
    counts = summary.get("counts", {})
    figures = (
        f"{counts.get('total_invoices', '?')} invoices, {counts.get('incident_count', '?')} "
        "incidents"
    )
    return dg.AssetCheckResult(
        check_name=SUMMARY_SCHEMA_CHECK,
        passed=not problems,
        severity=dg.AssetCheckSeverity.ERROR,
        description=(
            f"The summary ({figures}) validates against the seed §6 schema."
            if not problems
            else f"{len(problems)} schema violation(s): {'; '.join(problems[:3])}"
        ),
        metadata={"violations": dg.MetadataValue.json(problems)},
    )


def drift_checks(report: dict[str, Any]) -> list[dg.AssetCheckResult]:
    """One WARN check per drift metric: it fails when the triple guard triggers."""
    out = []
    for metric, check_name in DRIFT_CHECKS.items():
        drift = report["drift"][metric]
        out.append(
            dg.AssetCheckResult(
                check_name=check_name,
                passed=not drift["triggered"],
                severity=dg.AssetCheckSeverity.WARN,
                description=drift_description(metric, drift),
                metadata={
                    "current_rate": float(drift["current_rate"]),
                    "previous_rate": float(drift["previous_rate"]),
                    "current_count": int(drift["current_count"]),
                    "previous_count": int(drift["previous_count"]),
                    "current_total": int(drift["current_total"]),
                    "baseline_total": int(drift["baseline_total"]),
                },
            )
        )
    return out


def drift_description(metric: str, drift: dict[str, Any]) -> str:
    """What the drift check compared, with the figures, and what it concluded."""
    figures = (
        f"{metric}: {drift['current_rate']:.1%} ({drift['current_count']}) over "
        f"{drift['current_total']} invoices in the 7 days vs {drift['previous_rate']:.1%} "
        f"({drift['previous_count']}) over {drift['baseline_total']} the 7 days before"
    )
    if drift["triggered"]:
        return f"DRIFT. {figures}."
    if not drift["has_baseline"]:
        return f"No drift: no baseline (fewer than MIN_SAMPLE invoices before). {figures}."
    return f"No drift. {figures}."
