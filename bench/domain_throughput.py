"""Benchmark 1 — domain throughput: the vectorised ``evaluate`` (validation, pricing, mismatch,
quality, incidents) vs a per-invoice Python loop applying the same rules (``bench.loop_baseline``).

Sizes 10k, 100k and 1M synthetic invoices (``bench.synthetic``: ~10 % anomalies). Reports
invoices/s and the loop/vectorised ratio at each size (both measured in the same process, same
data), the RSS growth while evaluating 1M, the per-stage split at the largest size, the
agreement of the two implementations on 10k invoices (incident count, primary flag and severity,
flag lists, grades, incident documents), and a cProfile of the vectorised path when it is below
target.

Inputs: the vectorised path gets the invoice and line-item frames; the loop gets the same rows as
lists of dicts (its natural input, converted outside the timing; the conversion cost is reported).

    .venv/bin/python -m bench.domain_throughput [--quick] [--out result.json]
"""

from __future__ import annotations

import gc
import time
from typing import Any

import numpy as np

from bench.common import RssPeak, cli, median, metric, profile_top, record, repeat
from bench.loop_baseline import evaluate_loop
from bench.synthetic import plain_rows, synthetic_invoices

NAME = "domain_throughput"
TARGET_ROWS_PER_S = 1_000_000
TARGET_SPEEDUP = 10.0
FULL_SIZES = (10_000, 100_000, 1_000_000)
QUICK_SIZES = (2_000, 20_000)
VECTOR_REPEATS = {10_000: 7, 100_000: 5, 1_000_000: 5}
LOOP_REPEATS = {10_000: 5, 100_000: 3, 1_000_000: 1}
AGREEMENT_SIZE = 10_000


def _label(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 else f"{n // 1_000}k"


def staged(invoices: Any, lines: Any, market: Any, t: Any) -> tuple[dict[str, float], Any]:
    """``pipeline.evaluate`` stage by stage, with the wall seconds of each stage."""
    from invoice_assets.domain.breakdown import current_breakdown
    from invoice_assets.domain.incidents import build_incidents
    from invoice_assets.domain.mismatch import assess_mismatch, min_key_confidence
    from invoice_assets.domain.pipeline import invoice_facts
    from invoice_assets.domain.pricing import price_offers
    from invoice_assets.domain.quality import raise_flags, score_invoices
    from invoice_assets.domain.validation import validate_invoices

    split: dict[str, float] = {}

    def step(name: str, fn: Any) -> Any:
        started = time.perf_counter()
        out = fn()
        split[name] = time.perf_counter() - started
        return out

    invoices = step("reset_index", lambda: invoices.reset_index(drop=True))
    breakdown = step("breakdown", lambda: current_breakdown(invoices, market))
    mismatch = step(
        "mismatch",
        lambda: assess_mismatch(
            invoices["invoice_total_with_vat_tl"].to_numpy(),
            breakdown["computed_total_tl"].to_numpy(),
            breakdown["current_vat_tl"].to_numpy(),
            min_key_confidence(invoices),
            t,
        ),
    )
    validation, _ = step("validation", lambda: validate_invoices(invoices, lines, mismatch, t))
    offers = step("pricing", lambda: price_offers(invoices, validation, market, t))
    facts = step("facts", lambda: invoice_facts(breakdown, mismatch, validation))
    flags = step("flags", lambda: raise_flags(invoices, facts, offers))
    step("scores", lambda: score_invoices(flags, len(invoices), t))
    incidents = step("incidents", lambda: build_incidents(invoices, facts, flags, t, "default"))
    return split, incidents


def _none(value: Any) -> Any:
    """Missing is missing: pandas' string columns hold NaN where the loop holds None."""
    return None if isinstance(value, float) and value != value else value


def agreement(evaluation: Any, results: list[dict[str, Any]]) -> dict[str, Any]:
    """How often the loop and the vectorised path decide the same, per invoice."""
    n = len(results)
    incidents = evaluation.incidents
    rows = incidents["row"].to_numpy()
    primary = np.full(n, None, dtype=object)
    severity = np.full(n, None, dtype=object)
    primary[rows] = incidents["primary_flag"].to_numpy()
    severity[rows] = incidents["severity"].to_numpy()
    docs = {int(r): d for r, d in zip(rows, incidents.to_dict("records"), strict=True)}
    flags = evaluation.scores["flags"].to_numpy()
    grades = evaluation.scores["quality_grade"].to_numpy()
    same_primary = same_flags = same_grade = same_doc = 0
    for i, res in enumerate(results):
        inc = res["incident"]
        if (inc and inc["primary_flag"], inc and inc["severity"]) == (
            primary[i] or None,
            severity[i] or None,
        ):
            same_primary += 1
        same_flags += flags[i] == ",".join(res["flags"])
        same_grade += grades[i] == res["quality_grade"]
        vec = docs.get(i)
        if inc is None and vec is None:
            same_doc += 1
        elif inc is not None and vec is not None:
            keys = ("dedupe_key", "action_class", "action_hint", "mismatch_info", "error_code")
            same = all(_none(inc[k]) == _none(vec[k]) for k in keys)
            same_doc += same and inc["secondary_flags"] == list(vec["secondary_flags"])
    loop_incidents = sum(r["incident"] is not None for r in results)
    return {
        "invoices": n,
        "incidents_vectorised": len(incidents),
        "incidents_loop": loop_incidents,
        "same_incident_count": len(incidents) == loop_incidents,
        "primary_flag_and_severity_agreement_pct": round(100.0 * same_primary / n, 3),
        "flag_list_agreement_pct": round(100.0 * same_flags / n, 3),
        "grade_agreement_pct": round(100.0 * same_grade / n, 3),
        "incident_document_agreement_pct": round(100.0 * same_doc / n, 3),
        "primary_flags": incidents["primary_flag"].value_counts().to_dict(),
    }


def run(quick: bool = False) -> dict[str, Any]:
    from invoice_assets.domain.pipeline import evaluate
    from resources.market_data import load_market_data
    from resources.thresholds import load_thresholds

    started = time.perf_counter()
    market, t = load_market_data(), load_thresholds()
    sizes = QUICK_SIZES if quick else FULL_SIZES
    metrics: dict[str, Any] = {}
    details: dict[str, Any] = {"sizes": {}}
    notes: list[str] = []
    # Warm-up: first calls pay for imports and pandas' lazy initialisation.
    warm_inv, warm_lines = synthetic_invoices(500, market, t, seed=99)
    evaluate(warm_inv, warm_lines, market, t)
    evaluate_loop(plain_rows(warm_inv), warm_lines.to_dict("records"), market, t)

    largest = max(sizes)
    for n in sizes:
        label = _label(n)
        t0 = time.perf_counter()
        invoices, lines = synthetic_invoices(n, market, t, seed=n)
        generate_s = time.perf_counter() - t0
        gc.collect()
        peaks: list[float] = []

        def vectorised(invoices: Any = invoices, lines: Any = lines) -> Any:
            return evaluate(invoices, lines, market, t)

        vec_times = []
        evaluation = None
        for _ in range(1 if quick else VECTOR_REPEATS.get(n, 3)):
            with RssPeak() as rss:
                t1 = time.perf_counter()
                evaluation = vectorised()
                vec_times.append(time.perf_counter() - t1)
            peaks.append(rss.delta_mib)
            if n == largest:
                details["rss_peak_process_mib"] = round(rss.peak_mib, 1)
        assert evaluation is not None
        incidents = len(evaluation.incidents)
        del evaluation
        gc.collect()

        t0 = time.perf_counter()
        inv_records = plain_rows(invoices)
        line_records = lines.to_dict("records")
        to_dicts_s = time.perf_counter() - t0
        holder: list[Any] = []

        def loop(
            inv_records: Any = inv_records, line_records: Any = line_records, holder: Any = holder
        ) -> None:
            holder[:] = [evaluate_loop(inv_records, line_records, market, t)]

        loop_times = repeat(loop, 1 if quick else LOOP_REPEATS.get(n, 3))
        loop_results = holder[0]
        loop_incidents = sum(r["incident"] is not None for r in loop_results)
        vec_s, loop_s = median(vec_times), median(loop_times)
        ratio = loop_s / vec_s
        rate = n / vec_s
        metrics[f"vectorised_{label}_invoices_per_s"] = metric(
            rate, "invoices/s", "higher", TARGET_ROWS_PER_S if n == largest else None
        )
        metrics[f"loop_{label}_invoices_per_s"] = metric(n / loop_s, "invoices/s", "higher")
        metrics[f"speedup_vs_loop_{label}"] = metric(
            ratio, "x", "higher", TARGET_SPEEDUP if n == largest else None
        )
        details["sizes"][label] = {
            "invoices": n,
            "line_items": len(lines),
            "incidents_vectorised": incidents,
            "incidents_loop": loop_incidents,
            "vectorised_s": [round(x, 4) for x in vec_times],
            "loop_s": [round(x, 4) for x in loop_times],
            "vectorised_median_s": round(vec_s, 4),
            "loop_median_s": round(loop_s, 4),
            "rss_delta_mib_max": round(max(peaks), 1),
            "generate_frames_s": round(generate_s, 2),
            "loop_input_to_dicts_s": round(to_dicts_s, 2),
        }
        if n == largest:
            metrics[f"vectorised_{label}_rss_delta"] = metric(max(peaks), "MiB", "lower")
            split, _ = staged(invoices, lines, market, t)
            details["stage_split_s_at_largest"] = {k: round(v, 3) for k, v in split.items()}
            if rate < TARGET_ROWS_PER_S:
                probe = 100_000 if not quick else n
                sub_inv, sub_lines = synthetic_invoices(probe, market, t, seed=7)
                details["profile_n"] = probe
                _, details["profile"] = profile_top(
                    lambda sub_inv=sub_inv, sub_lines=sub_lines: evaluate(
                        sub_inv, sub_lines, market, t
                    ),
                    own=("invoice_assets/",),
                )
        if n == AGREEMENT_SIZE or (quick and n == min(sizes)):
            check = evaluate(invoices, lines, market, t)
            details["agreement"] = agreement(check, loop_results)
            agree = details["agreement"]["primary_flag_and_severity_agreement_pct"]
            metrics[f"loop_agreement_primary_flag_{label}"] = metric(agree, "%", "higher", 100.0)
            del check
        del inv_records, line_records, holder, loop_results, invoices, lines
        gc.collect()

    notes.append(
        "loop repeats at 1M: 1 (it takes tens of seconds); other sizes are medians of 3-7 runs"
        if not quick
        else "quick run: one repetition per size"
    )
    return record(NAME, started, metrics, details, notes)


def main() -> None:
    cli(NAME, run)


if __name__ == "__main__":
    main()
