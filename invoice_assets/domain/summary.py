"""Run summary (SPEC §5.8, seed §6): the one document that answers the operator's questions.

``run_summary`` is pure: the caller passes the invoices processed and incidents created in
``[start, end)``, the request/extraction status codes seen, and the queue facts. Each of the three
may come one row per item or pre-aggregated (distinct facts with their count in a column ``n``,
e.g. from a SQL ``GROUP BY``); the rules below count weighted rows, so both give the same
document. The JSON schema of the seed ships beside this module (``run_summary.schema.json``) and
is the contract.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from importlib.resources import files
from typing import Any

import numpy as np
import pandas as pd

from invoice_assets.domain.arrays import rate

PERCENTILES = (50, 95, 99)


def _sorted_values(values: pd.Series | np.ndarray) -> np.ndarray:
    """The numeric, non-null values, ascending (text and other junk count as missing)."""
    return np.sort(
        pd.to_numeric(pd.Series(values), errors="coerce").dropna().to_numpy(dtype="float64")
    )


def _rank_value(data: np.ndarray, percentile: float) -> float:
    if len(data) == 0:
        return 0.0
    rank = max(1, math.ceil(percentile / 100.0 * len(data)))
    return float(data[rank - 1])


def nearest_rank(values: pd.Series | np.ndarray, percentile: float) -> float:
    """Nearest-rank percentile; 0.0 for no values."""
    return _rank_value(_sorted_values(values), percentile)


def latency(values: pd.Series | np.ndarray) -> dict[str, float]:
    data = _sorted_values(values)  # sorted once for all three percentiles
    return {f"p{p}": _rank_value(data, p) for p in PERCENTILES}


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _weights(frame: pd.DataFrame) -> np.ndarray:
    """How many items each row stands for: its ``n`` when pre-aggregated, else one."""
    if "n" in frame:
        return frame["n"].to_numpy(dtype="int64")
    return np.ones(len(frame), dtype="int64")


def _count(weights: np.ndarray, condition: pd.Series | np.ndarray) -> int:
    return int(weights[np.asarray(condition, dtype=bool)].sum())


def error_counts(status_codes: pd.Series | np.ndarray | pd.DataFrame) -> dict[str, Any]:
    """by_code, total_4xx and total_5xx over HTTP status codes ≥ 400.

    ``status_codes``: one code per request/call, or a frame of distinct ``code`` with count ``n``.
    """
    frame = (
        status_codes
        if isinstance(status_codes, pd.DataFrame)
        else pd.DataFrame({"code": pd.Series(status_codes)})
    )
    codes = pd.to_numeric(frame["code"], errors="coerce")
    known = codes.notna().to_numpy()
    code = codes[known].to_numpy().astype("int64")
    weights = _weights(frame)[known]
    status_class = code // 100  # 4 for 4xx, 5 for 5xx
    errors = status_class >= 4
    per_code = pd.Series(weights[errors]).groupby(code[errors]).sum().sort_index()
    return {
        "by_code": {str(k): int(v) for k, v in per_code.items() if v},
        "total_4xx": _count(weights, status_class == 4),
        "total_5xx": _count(weights, status_class == 5),
    }


def run_summary(
    start: datetime,
    end: datetime,
    generated_at: datetime,
    invoices: pd.DataFrame,
    incidents: pd.DataFrame,
    status_codes: pd.Series | np.ndarray | pd.DataFrame,
    queue: dict[str, Any],
    latencies: pd.DataFrame | None = None,
    re_arrivals: int = 0,
) -> dict[str, Any]:
    """The summary document.

    ``invoices``: ``has_mismatch`` (and ``n`` when pre-aggregated);
    ``incidents``: ``severity``, ``ocr_suspect``, ``status``, ``has_feedback``,
    ``was_hint_correct`` (and ``n`` when pre-aggregated);
    ``latencies``: one row per invoice with ``pipeline_total_ms`` and ``extraction_ms``; when
    omitted, ``invoices`` must be one row per invoice and carry these columns;
    ``status_codes``: see ``error_counts``;
    ``queue``: ``current_depth``, ``max_depth_in_period``, ``stuck_detected``;
    ``re_arrivals``: invoices of the window whose incident belongs to another day (SPEC §5.5);
    ``counts.re_arrival_count`` (the seed's schema leaves ``counts`` open to more counts).
    """
    per_invoice = invoices if latencies is None else latencies
    w_inv, w_inc = _weights(invoices), _weights(incidents)
    n_inv, n_inc = int(w_inv.sum()), int(w_inc.sum())
    s1 = _count(w_inc, incidents["severity"] == "S1")
    s2 = _count(w_inc, incidents["severity"] == "S2")
    ocr = _count(w_inc, incidents["ocr_suspect"].astype(bool))
    resolved = _count(w_inc, incidents["status"] == "RESOLVED")
    has_fb = incidents["has_feedback"].astype(bool)
    feedback = _count(w_inc, has_fb)
    correct = _count(w_inc, has_fb & incidents["was_hint_correct"].fillna(False).astype(bool))
    mismatch = _count(w_inv, invoices["has_mismatch"].astype(bool))
    return {
        "generated_at": _iso(generated_at),
        "period": {"start": _iso(start), "end": _iso(end)},
        "counts": {
            "total_invoices": n_inv,
            "incident_count": n_inc,
            "s1_count": s1,
            "s2_count": s2,
            "ocr_suspect_count": ocr,
            "resolved_count": resolved,
            "feedback_count": feedback,
            "re_arrival_count": int(re_arrivals),
        },
        "rates": {
            "mismatch_rate": rate(mismatch, n_inv),
            "s1_rate": rate(s1, n_inc),
            "ocr_suspect_rate": rate(ocr, n_inc),
            "feedback_coverage": rate(feedback, resolved),
            "hint_accuracy_rate": rate(correct, feedback),
        },
        "latency": {
            "pipeline_total_ms": latency(per_invoice["pipeline_total_ms"]),
            "extraction_ms": latency(per_invoice["extraction_ms"]),
        },
        "errors": error_counts(status_codes),
        "queue": {
            "current_depth": int(queue.get("current_depth", 0)),
            "max_depth_in_period": int(queue.get("max_depth_in_period", 0)),
            "stuck_detected": bool(queue.get("stuck_detected", False)),
        },
    }


def queue_stuck(
    depth: int, last_progress: datetime | None, now: datetime, stuck_minutes: float
) -> bool:
    """The queue is stuck when files wait and none moved for ``stuck_minutes``."""
    idle = (now - last_progress).total_seconds() / 60.0 if last_progress else 0.0
    return bool(depth > 0 and idle >= stuck_minutes)


def restamp(
    summary: dict[str, Any], queue: dict[str, Any], now: datetime, stuck_minutes: float
) -> dict[str, Any]:
    """A summary computed earlier, as of ``now``: what changes with time alone and not with a
    write to the store (``generated_at``, whether the waiting queue became stuck) is re-judged
    from ``queue`` (``current_depth`` and ``last_progress_at`` as the store reported them)."""
    last = queue.get("last_progress_at")
    stuck = queue_stuck(
        int(queue.get("current_depth", 0)),
        datetime.fromisoformat(last) if last else None,
        now,
        stuck_minutes,
    )
    return {
        **summary,
        "generated_at": _iso(now),
        "queue": {**summary["queue"], "stuck_detected": stuck},
    }


def run_summary_schema() -> dict[str, Any]:
    """The seed's normative JSON schema."""
    text = files(__package__).joinpath("run_summary.schema.json").read_text("utf-8")
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
