"""Materialise inbox days in-process, as the schedule would (the CLI's ``run`` and ``demo``).

A day is one run of the daily job; a range can be one run (a single-run backfill: every asset
has ``BackfillPolicy.single_run()`` and writes its own partitions).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import dagster as dg

from invoice_assets.settings import Settings

RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@dataclass(frozen=True)
class RunOutcome:
    days: tuple[str, ...]
    run_id: str
    success: bool
    failed_steps: tuple[str, ...]


def day_range(first: str, last: str) -> list[str]:
    start, end = date.fromisoformat(first), date.fromisoformat(last)
    if end < start:
        raise ValueError(f"--to {last} is before --date {first}")
    return [(start + timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]


def instance_for(settings: Settings) -> dg.DagsterInstance:
    """The persistent Dagster instance under DAGSTER_HOME (runs show up in ``dagster dev``)."""
    os.environ["DAGSTER_HOME"] = str(settings.prepare_dagster_home())
    return dg.DagsterInstance.get()


def _definitions() -> dg.Definitions:
    from invoice_assets.definitions import build_definitions

    return build_definitions()


def materialise(
    days: Sequence[str],
    instance: dg.DagsterInstance,
    *,
    single_run: bool = False,
    progress: Callable[[str], None] = lambda _: None,
    defs: dg.Definitions | None = None,
    tags: Mapping[str, str] | None = None,
) -> list[RunOutcome]:
    """One run per day, or one run for the whole range when ``single_run``; ``tags`` go on
    every run (who or what started it)."""
    job = (defs or _definitions()).resolve_job_def("daily_invoices")
    batches = [list(days)] if single_run and len(days) > 1 else [[d] for d in days]
    outcomes = []
    for number, batch in enumerate(batches, start=1):
        label = batch[0] if len(batch) == 1 else f"{batch[0]}..{batch[-1]}"
        progress(f"[{number}/{len(batches)}] materialising {label}")
        if len(batch) == 1:
            result = job.execute_in_process(
                partition_key=batch[0],
                instance=instance,
                raise_on_error=False,
                run_config=QUIET,
                tags=dict(tags or {}),
            )
        else:
            result = job.execute_in_process(
                tags={**(tags or {}), RANGE_START: batch[0], RANGE_END: batch[-1]},
                instance=instance,
                raise_on_error=False,
                run_config=QUIET,
            )
        failed = tuple(
            e.step_key or "?" for e in result.all_events if e.event_type_value == "STEP_FAILURE"
        )
        outcomes.append(RunOutcome(tuple(batch), result.run_id, result.success, failed))
        progress(f"[{number}/{len(batches)}] {label}: {'ok' if result.success else 'FAILED'}")
    return outcomes
