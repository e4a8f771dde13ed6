"""The daily job: every asset of a day's partition, in one process (the stages are vectorised;
a subprocess per step would cost far more than the work)."""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg

from invoice_assets.services.run_tags import TRIGGER_TAG

DAILY_JOB = "daily_invoices"


def build_daily_job(
    freshness_checks: Sequence[dg.AssetChecksDefinition] = (),
) -> dg.UnresolvedAssetJobDefinition:
    """The job over the daily assets and their checks (its partitions are theirs), without the
    freshness checks: their sensor evaluates them against the clock, and a run of an older day
    has nothing to say about whether yesterday is late."""
    return dg.define_asset_job(
        DAILY_JOB,
        selection=dg.AssetSelection.groups("invoices", "monitoring")
        - dg.AssetSelection.checks(*freshness_checks),
        executor_def=dg.in_process_executor,
        tags={TRIGGER_TAG: "ui"},  # the schedule, the inbox sensor and the CLI say otherwise
        description=(
            "Extract, validate, price, score and raise incidents for one inbox day (or a range "
            "of days as one run), then its run summary and system health report. The schedule "
            "runs yesterday at 01:00 Istanbul; the inbox sensor runs a day whose files changed; "
            "`invoice-ops run` runs a day from the command line. Idempotent: every stage "
            "replaces its days."
        ),
    )
