"""Great Expectations 1.x suites on ``extractions`` and ``offers``.

GX is imported inside the functions only: importing it costs seconds, and a module-level import
would make every process (code-location load, CLI, API) pay for it.
"""

from __future__ import annotations

from typing import Any

import dagster as dg
import pandas as pd

from invoice_assets.domain.pricing import OFFER_REASONS

GX_FINGERPRINT_LIMIT = "HASH_THRESHOLD"  # the attribute of GX's pandas execution engine
EXTRACTIONS_CHECK = "extractions_expectations"
OFFERS_CHECK = "offers_expectations"


def _validate(name: str, frame: pd.DataFrame, expectations: list[Any]) -> dg.AssetCheckResult:
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
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    batch = (
        context.data_sources.add_pandas(f"{name}_source")
        .add_dataframe_asset(name)
        .add_batch_definition_whole_dataframe("partition")
        .get_batch(batch_parameters={"dataframe": frame})
    )
    suite = gx.ExpectationSuite(name=name)
    for expectation in expectations:
        suite.add_expectation(expectation)
    # BASIC carries what the failures report (unexpected count and up to 20 examples); the
    # default SUMMARY also tallies the unexpected values, one more metric per expectation.
    result = batch.validate(suite, result_format="BASIC")
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
    failed_names = ", ".join(sorted({f"{f['expectation']}({f['column']})" for f in failing}))
    return dg.AssetCheckResult(
        check_name=name,
        passed=bool(result.success),
        severity=dg.AssetCheckSeverity.ERROR,
        description=(
            f"{len(result.results) - len(failing)} of {len(result.results)} expectations hold "
            f"over {len(frame)} rows" + (f"; failing: {failed_names}" if failing else "")
        ),
        metadata={
            "rows": len(frame),
            "expectations": len(result.results),
            "failed_expectations": len(failing),
            "failures": dg.MetadataValue.json(failing),
        },
    )


def extractions_expectations(frame: pd.DataFrame) -> dg.AssetCheckResult:
    """Keys present and unique per day, statuses known, confidences in [0, 1], failures coded."""
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
    result = _validate(EXTRACTIONS_CHECK, frame[checked], checks)
    uncoded = int(failed["error_code"].isna().sum())
    if uncoded:
        return dg.AssetCheckResult(
            check_name=EXTRACTIONS_CHECK,
            passed=False,
            severity=dg.AssetCheckSeverity.ERROR,
            description=f"{result.description}; {uncoded} failed row(s) without an error_code",
            metadata={**result.metadata, "failed_without_error_code": uncoded},
        )
    return result


def offers_expectations(frame: pd.DataFrame) -> dg.AssetCheckResult:
    """Statuses and reasons known, priced offers non-negative, one row per invoice."""
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
    result = _validate(OFFERS_CHECK, frame[checked], checks)
    unpriced_with_total = int(
        (frame["offer_status"] != "priced").sum() - frame["offer_total_tl"].isna().sum()
    )
    missing_total = int(priced["offer_total_tl"].isna().sum())
    if unpriced_with_total or missing_total:
        return dg.AssetCheckResult(
            check_name=OFFERS_CHECK,
            passed=False,
            severity=dg.AssetCheckSeverity.ERROR,
            description=(
                f"{result.description}; {missing_total} priced offer(s) without a total, "
                f"{unpriced_with_total} unpriced with one"
            ),
            metadata={
                **result.metadata,
                "priced_without_total": missing_total,
                "unpriced_with_total": unpriced_with_total,
            },
        )
    return result
