"""Great Expectations 1.x suites on ``extractions`` and ``offers``.

GX is imported inside the functions only: importing it costs seconds, and a module-level import
would make every process (code-location load, CLI, API) pay for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from threading import Lock
from typing import Any

import dagster as dg
import pandas as pd

from invoice_assets.domain.pricing import OFFER_REASONS

GX_FINGERPRINT_LIMIT = "HASH_THRESHOLD"  # the attribute of GX's pandas execution engine
EXTRACTIONS_CHECK = "extractions_expectations"
OFFERS_CHECK = "offers_expectations"


@dataclass
class SuiteOutcome:
    """What a suite found over some rows of a day: rows, expectations, the failing ones (GX's
    order) and the suite's own counts beyond GX (``extras``, each a count of bad rows).

    A day processed in chunks is checked chunk by chunk and its outcomes ``combine``: every
    expectation here is row-wise (null, set, range), except the uniqueness of (day, invoice_key),
    which holds across chunks because their keys are disjoint (the stages' key ranges) or is
    checked across them by the caller (the extraction batches' ``KeySet``)."""

    name: str
    rows: int
    expectations: int
    success: bool
    failing: list[dict[str, Any]] = field(default_factory=list)
    extras: dict[str, int] = field(default_factory=dict)

    def result(self) -> dg.AssetCheckResult:
        """The day's check result (for a one-chunk day, what one GX run over the day says)."""
        failed_names = ", ".join(
            sorted({f"{f['expectation']}({f['column']})" for f in self.failing})
        )
        description = (
            f"{self.expectations - len(self.failing)} of {self.expectations} expectations hold "
            f"over {self.rows} rows" + (f"; failing: {failed_names}" if self.failing else "")
        )
        metadata: dict[str, Any] = {
            "rows": self.rows,
            "expectations": self.expectations,
            "failed_expectations": len(self.failing),
            "failures": dg.MetadataValue.json(self.failing),
        }
        bad = {k: v for k, v in self.extras.items() if v}
        if bad:  # offers name both of its counts; extractions the ones found
            metadata |= self.extras if self.name == OFFERS_CHECK else bad
        if bad:
            description += "; " + _EXTRA_TEXT[self.name](self.extras)
        return dg.AssetCheckResult(
            check_name=self.name,
            passed=self.success and not bad,
            severity=dg.AssetCheckSeverity.ERROR,
            description=description,
            metadata=metadata,
        )


def combine(outcomes: Sequence[SuiteOutcome]) -> SuiteOutcome:
    """One day's outcome from its chunks' (in chunk order): rows and bad-row counts add up, an
    expectation fails if it failed in any chunk (its unexpected rows summed, the first examples
    kept)."""
    if len(outcomes) == 1:
        return outcomes[0]
    first = outcomes[0]
    failing: dict[tuple[str, str], dict[str, Any]] = {}
    extras: dict[str, int] = dict.fromkeys(first.extras, 0)
    for outcome in outcomes:
        for f in outcome.failing:
            merged = failing.setdefault(
                (f["expectation"], str(f["column"])), {**f, "unexpected_count": 0, "examples": []}
            )
            if f.get("unexpected_count") is not None:
                merged["unexpected_count"] = (merged["unexpected_count"] or 0) + int(
                    f["unexpected_count"]
                )
            merged["examples"] = (merged["examples"] + list(f["examples"]))[:5]
        for key, value in outcome.extras.items():
            extras[key] = extras.get(key, 0) + value
    return SuiteOutcome(
        first.name,
        sum(o.rows for o in outcomes),
        max(o.expectations for o in outcomes),
        all(o.success for o in outcomes),
        list(failing.values()),
        extras,
    )


@dataclass
class _GxState:
    """The process's one ephemeral GX context and each suite's batch definition in it."""

    context: Any = None
    batches: dict[str, Any] = field(default_factory=dict)
    lock: Lock = field(default_factory=Lock)


_GX = _GxState()


def _batch_definition(name: str) -> Any:
    """The whole-dataframe batch definition of ``name`` in one ephemeral GX context per process.

    A new context per suite run kept every validated dataframe alive (~one frame of a chunk per
    run: +850 MiB over the 100 chunks of a 10M-invoice day's offers), so the context and its
    data assets are made once and each run only hands its dataframe to ``get_batch``."""
    definition = _GX.batches.get(name)
    if definition is not None:
        return definition
    import logging

    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from great_expectations.execution_engine import pandas_execution_engine

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    # GX fingerprints every in-memory batch smaller than its module-level size limit by hashing
    # all its cells (an informational batch marker nothing here reads); at 1M rows that was ~70 %
    # of validation. Setting GX's own attribute to 0 turns it off; it is GX's knob, not a rule of
    # ours, so it is named only as GX names it.
    setattr(pandas_execution_engine, GX_FINGERPRINT_LIMIT, 0)
    if _GX.context is None:
        _GX.context = gx.get_context(mode="ephemeral")
        _GX.context.variables.progress_bars = ProgressBarsConfig(
            globally=False, metric_calculations=False
        )
    definition = (
        _GX.context.data_sources.add_pandas(f"{name}_source")
        .add_dataframe_asset(name)
        .add_batch_definition_whole_dataframe("partition")
    )
    _GX.batches[name] = definition
    return definition


def _forget_batch(batch: Any) -> None:
    """Drop what GX's execution engine keeps of a validated batch: its metric cache holds the
    per-row results of every expectation of every batch (a boolean column per expectation), and
    its batch manager the batch's dataframe, for the life of the process."""
    engine = getattr(batch.data, "execution_engine", None)
    metrics = getattr(engine, "_metric_cache", None)
    if isinstance(metrics, dict):
        metrics.clear()


def _run_suite(name: str, frame: pd.DataFrame, expectations: list[Any]) -> SuiteOutcome:
    import great_expectations as gx

    with _GX.lock:
        batch = _batch_definition(name).get_batch(batch_parameters={"dataframe": frame})
        suite = gx.ExpectationSuite(name=name)
        for expectation in expectations:
            suite.add_expectation(expectation)
        # BASIC carries what the failures report (unexpected count and up to 20 examples); the
        # default SUMMARY also tallies the unexpected values, one more metric per expectation.
        result = batch.validate(suite, result_format="BASIC")
        _forget_batch(batch)
        del batch
    failing = []
    for r in result.results:
        config = r.expectation_config
        if r.success or config is None:
            continue
        failing.append(
            {
                "expectation": config.type,
                "column": config.kwargs.get("column") or config.kwargs.get("column_list"),
                "unexpected_count": r.result.get("unexpected_count"),
                "examples": [
                    str(v)[:80] for v in (r.result.get("partial_unexpected_list") or [])[:5]
                ],
            }
        )
    return SuiteOutcome(name, len(frame), len(result.results), bool(result.success), failing)


def extractions_expectations(frame: pd.DataFrame) -> dg.AssetCheckResult:
    """Keys present and unique per day, statuses known, confidences in [0, 1], failures coded."""
    return extractions_outcome(frame).result()


def extractions_outcome(frame: pd.DataFrame) -> SuiteOutcome:
    """``extractions_expectations`` over some of a day's rows (``combine`` makes the day's)."""
    import great_expectations as gx

    e = gx.expectations
    confidences = [c for c in frame.columns if c.startswith("conf_")]
    failed = frame[frame["status"] == "failed"]
    checks: list[Any] = [
        e.ExpectColumnValuesToNotBeNull(column="invoice_key"),
        e.ExpectColumnValuesToNotBeNull(column="source_file"),
        e.ExpectCompoundColumnsToBeUnique(column_list=["day", "invoice_key"]),
        e.ExpectColumnValuesToBeInSet(column="status", value_set=["ok", "failed"]),
        *[
            e.ExpectColumnValuesToBeBetween(column=c, min_value=0.0, max_value=1.0)
            for c in confidences
        ],
    ]
    checked = ["day", "invoice_key", "source_file", "status", *confidences]
    outcome = _run_suite(EXTRACTIONS_CHECK, frame[checked], checks)
    outcome.extras = {
        "failed_without_error_code": int(failed["error_code"].isna().sum()),
        KEYS_REPEATED: 0,
    }
    return outcome


def offers_expectations(frame: pd.DataFrame) -> dg.AssetCheckResult:
    """Statuses and reasons known, priced offers non-negative, one row per invoice."""
    return offers_outcome(frame).result()


def offers_outcome(frame: pd.DataFrame) -> SuiteOutcome:
    """``offers_expectations`` over some of a day's rows (``combine`` makes the day's)."""
    import great_expectations as gx

    e = gx.expectations
    priced = frame[frame["offer_status"] == "priced"]
    checks: list[Any] = [
        e.ExpectCompoundColumnsToBeUnique(column_list=["day", "invoice_key"]),
        e.ExpectColumnValuesToBeInSet(column="offer_status", value_set=["priced", "not_priced"]),
        e.ExpectColumnValuesToBeInSet(column="offer_reason", value_set=list(OFFER_REASONS)),
        e.ExpectColumnValuesToBeBetween(column="offer_total_tl", min_value=0.0),
        e.ExpectColumnValuesToBeBetween(column="offer_energy_tl", min_value=0.0),
        e.ExpectColumnValuesToBeBetween(column="ptf_tl_per_mwh", min_value=0.0),
    ]
    checked = ["day", "invoice_key", "offer_status", "offer_reason", "offer_total_tl"]
    checked += ["offer_energy_tl", "ptf_tl_per_mwh"]
    outcome = _run_suite(OFFERS_CHECK, frame[checked], checks)
    outcome.extras = {
        "priced_without_total": int(priced["offer_total_tl"].isna().sum()),
        "unpriced_with_total": int(
            (frame["offer_status"] != "priced").sum() - frame["offer_total_tl"].isna().sum()
        ),
    }
    return outcome


KEYS_REPEATED = "keys_repeated_across_batches"


def _extractions_text(extras: dict[str, int]) -> str:
    parts = []
    if extras.get("failed_without_error_code"):
        parts.append(f"{extras['failed_without_error_code']} failed row(s) without an error_code")
    if extras.get(KEYS_REPEATED):
        parts.append(f"{extras[KEYS_REPEATED]} invoice key(s) repeated across batches")
    return "; ".join(parts)


def _offers_text(extras: dict[str, int]) -> str:
    return (
        f"{extras.get('priced_without_total', 0)} priced offer(s) without a total, "
        f"{extras.get('unpriced_with_total', 0)} unpriced with one"
    )


_EXTRA_TEXT = {EXTRACTIONS_CHECK: _extractions_text, OFFERS_CHECK: _offers_text}
