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
    return dg.AssetCheckResult(
        check_name=SUMMARY_SCHEMA_CHECK,
        passed=not problems,
        severity=dg.AssetCheckSeverity.ERROR,
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
                metadata={
                    "current_rate": float(drift["current_rate"]),
                    "previous_rate": float(drift["previous_rate"]),
                    "current_count": int(drift["current_count"]),
                    "previous_count": int(drift["previous_count"]),
                },
            )
        )
    return out
