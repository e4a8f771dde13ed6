"""Run summary (SPEC §5.8): counts, rates, nearest-rank latency, errors, and the seed schema."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from invoice_assets.domain.summary import error_counts, nearest_rank, run_summary, schema_errors

START, END = datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 3, 2, tzinfo=UTC)


def _summary(invoices: pd.DataFrame, incidents: pd.DataFrame, codes: list[int]) -> dict:
    queue = {"current_depth": 2, "max_depth_in_period": 7, "stuck_detected": False}
    return run_summary(START, END, END, invoices, incidents, pd.Series(codes, dtype="int64"), queue)


def test_nearest_rank_percentiles_follow_the_definition() -> None:
    values = list(range(1, 101))
    assert nearest_rank(values, 50) == 50.0
    assert nearest_rank(values, 95) == 95.0
    assert nearest_rank(values, 99) == 99.0
    assert nearest_rank([10.0, 20.0, 30.0], 50) == 20.0
    assert nearest_rank([7.0], 99) == 7.0
    assert nearest_rank([], 50) == 0.0
    assert nearest_rank([None, float("nan"), 4.0], 50) == 4.0


def test_error_counts_group_4xx_and_5xx() -> None:
    assert error_counts([200, 400, 404, 404, 500, 503, 302]) == {
        "by_code": {"400": 1, "404": 2, "500": 1, "503": 1},
        "total_4xx": 3,
        "total_5xx": 2,
    }


def test_the_summary_counts_and_rates_match_the_contract_and_validate() -> None:
    invoices = pd.DataFrame(
        {
            "has_mismatch": [True, True, False, False],
            "pipeline_total_ms": [100.0, 200.0, 300.0, 400.0],
            "extraction_ms": [None, None, None, None],
        }
    )
    incidents = pd.DataFrame(
        {
            "severity": ["S1", "S2", "S2"],
            "ocr_suspect": [True, False, False],
            "status": ["RESOLVED", "RESOLVED", "OPEN"],
            "has_feedback": [True, False, False],
            "was_hint_correct": [True, None, None],
        }
    )

    summary = _summary(invoices, incidents, [200, 404, 500])

    assert summary["counts"] == {
        "total_invoices": 4,
        "incident_count": 3,
        "s1_count": 1,
        "s2_count": 2,
        "ocr_suspect_count": 1,
        "resolved_count": 2,
        "feedback_count": 1,
        "re_arrival_count": 0,
    }
    assert summary["rates"]["mismatch_rate"] == pytest.approx(0.5)
    assert summary["rates"]["s1_rate"] == pytest.approx(1 / 3)
    assert summary["rates"]["ocr_suspect_rate"] == pytest.approx(1 / 3)
    assert summary["rates"]["feedback_coverage"] == pytest.approx(0.5)
    assert summary["rates"]["hint_accuracy_rate"] == 1.0
    assert summary["latency"]["pipeline_total_ms"] == {"p50": 200.0, "p95": 400.0, "p99": 400.0}
    assert summary["latency"]["extraction_ms"] == {"p50": 0.0, "p95": 0.0, "p99": 0.0}
    assert summary["errors"]["total_5xx"] == 1
    assert summary["queue"] == {
        "current_depth": 2,
        "max_depth_in_period": 7,
        "stuck_detected": False,
    }
    assert summary["period"] == {"start": "2025-03-01T00:00:00Z", "end": "2025-03-02T00:00:00Z"}
    assert schema_errors(summary) == []


def test_an_empty_window_gives_zero_rates_and_still_validates() -> None:
    invoices = pd.DataFrame(columns=["has_mismatch", "pipeline_total_ms", "extraction_ms"])
    incidents = pd.DataFrame(
        columns=["severity", "ocr_suspect", "status", "has_feedback", "was_hint_correct"]
    )
    summary = _summary(invoices, incidents, [])
    assert set(summary["rates"].values()) == {0.0}
    assert schema_errors(summary) == []


def test_the_schema_check_reports_a_broken_document() -> None:
    problems = schema_errors({"generated_at": "not a date", "counts": {"total_invoices": "4"}})
    assert any("period" in p or "required" in p for p in problems)
    assert any("total_invoices" in p for p in problems)


def test_pre_aggregated_groups_give_the_same_summary_as_one_row_per_item() -> None:
    rng = np.random.default_rng(5)
    n = 500
    invoices = pd.DataFrame(
        {
            "has_mismatch": rng.random(n) < 0.2,
            "pipeline_total_ms": np.where(rng.random(n) < 0.1, np.nan, rng.random(n) * 1e4),
            "extraction_ms": rng.random(n) * 300,
        }
    )
    m = 120
    feedback = rng.random(m) < 0.4
    incidents = pd.DataFrame(
        {
            "severity": rng.choice(["S1", "S2"], m),
            "ocr_suspect": rng.random(m) < 0.3,
            "status": rng.choice(["OPEN", "RESOLVED", "ACK"], m),
            "has_feedback": feedback,
            "was_hint_correct": pd.Series(
                [rng.choice([True, False, None]) if f else None for f in feedback], dtype=object
            ),
        }
    )
    codes = pd.Series(rng.choice([200, 201, 400, 404, 429, 500, 503], 300), dtype="int64")

    def groups(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
        counted = frame[keys].astype(object).groupby(keys, dropna=False).size()
        return counted.rename("n").reset_index()

    per_row = _summary(invoices, incidents, list(codes))
    queue = {"current_depth": 2, "max_depth_in_period": 7, "stuck_detected": False}
    grouped = run_summary(
        START,
        END,
        END,
        groups(invoices, ["has_mismatch"]),
        groups(incidents, list(incidents.columns)),
        codes.value_counts().rename_axis("code").rename("n").reset_index(),
        queue,
        latencies=invoices[["pipeline_total_ms", "extraction_ms"]],
    )

    assert grouped == per_row
    assert grouped["counts"]["total_invoices"] == n
    assert grouped["counts"]["incident_count"] == m
    assert schema_errors(grouped) == []


def test_error_counts_take_codes_with_their_counts() -> None:
    counted = pd.DataFrame({"code": [200, 404, 500, 503, 302], "n": [10, 2, 1, 4, 3]})
    assert error_counts(counted) == {
        "by_code": {"404": 2, "500": 1, "503": 4},
        "total_4xx": 2,
        "total_5xx": 5,
    }
    assert error_counts(counted.iloc[:0]) == {"by_code": {}, "total_4xx": 0, "total_5xx": 0}
