"""Run summary (SPEC §5.8, seed §6): the one document that answers the operator's questions.

``run_summary`` is pure: the caller passes the invoices processed and incidents created in
``[start, end)``, the request/extraction status codes seen, and the queue facts. The JSON schema
of the seed ships beside this module (``run_summary.schema.json``) and is the contract.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd

from invoice_assets.domain.arrays import rate

PERCENTILES = (50, 95, 99)


def nearest_rank(values: pd.Series | np.ndarray, percentile: float) -> float:
    """Nearest-rank percentile; 0.0 for no values."""
    data = np.sort(
        pd.to_numeric(pd.Series(values), errors="coerce").dropna().to_numpy(dtype="float64")
    )
    if len(data) == 0:
        return 0.0
    rank = max(1, math.ceil(percentile / 100.0 * len(data)))
    return float(data[rank - 1])


def latency(values: pd.Series | np.ndarray) -> dict[str, float]:
    return {f"p{p}": nearest_rank(values, p) for p in PERCENTILES}


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def error_counts(status_codes: pd.Series | np.ndarray) -> dict[str, Any]:
    """by_code, total_4xx and total_5xx over HTTP status codes ≥ 400."""
    codes = pd.to_numeric(pd.Series(status_codes), errors="coerce").dropna().astype("int64")
    status_class = codes // 100  # 4 for 4xx, 5 for 5xx
    codes = codes[status_class >= 4]
    status_class = status_class[status_class >= 4]
    by_code = {str(k): int(v) for k, v in codes.value_counts().sort_index().items()}
    return {
        "by_code": by_code,
        "total_4xx": int((status_class == 4).sum()),
        "total_5xx": int((status_class == 5).sum()),
    }


def run_summary(
    start: datetime,
    end: datetime,
    generated_at: datetime,
    invoices: pd.DataFrame,
    incidents: pd.DataFrame,
    status_codes: pd.Series | np.ndarray,
    queue: dict[str, Any],
) -> dict[str, Any]:
    """The summary document.

    ``invoices``: ``has_mismatch``, ``pipeline_total_ms``, ``extraction_ms``;
    ``incidents``: ``severity``, ``ocr_suspect``, ``status``, ``has_feedback``,
    ``was_hint_correct``;
    ``queue``: ``current_depth``, ``max_depth_in_period``, ``stuck_detected``.
    """
    n_inc = len(incidents)
    s1 = int((incidents["severity"] == "S1").sum())
    s2 = int((incidents["severity"] == "S2").sum())
    ocr = int(incidents["ocr_suspect"].astype(bool).sum())
    resolved = int((incidents["status"] == "RESOLVED").sum())
    has_fb = incidents["has_feedback"].astype(bool)
    feedback = int(has_fb.sum())
    correct = int((has_fb & incidents["was_hint_correct"].fillna(False).astype(bool)).sum())
    mismatch = int(invoices["has_mismatch"].astype(bool).sum())
    return {
        "generated_at": _iso(generated_at),
        "period": {"start": _iso(start), "end": _iso(end)},
        "counts": {
            "total_invoices": len(invoices),
            "incident_count": n_inc,
            "s1_count": s1,
            "s2_count": s2,
            "ocr_suspect_count": ocr,
            "resolved_count": resolved,
            "feedback_count": feedback,
        },
        "rates": {
            "mismatch_rate": rate(mismatch, len(invoices)),
            "s1_rate": rate(s1, n_inc),
            "ocr_suspect_rate": rate(ocr, n_inc),
            "feedback_coverage": rate(feedback, resolved),
            "hint_accuracy_rate": rate(correct, feedback),
        },
        "latency": {
            "pipeline_total_ms": latency(invoices["pipeline_total_ms"]),
            "extraction_ms": latency(invoices["extraction_ms"]),
        },
        "errors": error_counts(status_codes),
        "queue": {
            "current_depth": int(queue.get("current_depth", 0)),
            "max_depth_in_period": int(queue.get("max_depth_in_period", 0)),
            "stuck_detected": bool(queue.get("stuck_detected", False)),
        },
    }


def run_summary_schema() -> dict[str, Any]:
    """The seed's normative JSON schema."""
    text = resources.files(__package__).joinpath("run_summary.schema.json").read_text("utf-8")
    return json.loads(text)


def schema_errors(summary: dict[str, Any]) -> list[str]:
    """Every way ``summary`` violates the schema (empty when valid)."""
    import jsonschema  # only callers that validate pay for it

    validator = jsonschema.Draft7Validator(
        run_summary_schema(), format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
    )
    return [
        f"{'/'.join(map(str, e.path)) or '<root>'}: {e.message}"
        for e in validator.iter_errors(summary)
    ]
