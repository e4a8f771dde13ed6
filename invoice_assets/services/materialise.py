"""Materialise inbox days in-process, as the schedule would (the CLI's ``run`` and ``demo``).

A day is one run of the daily job; a range can be one run (a single-run backfill: every asset
has ``BackfillPolicy.single_run()`` and writes its own partitions). Each run is tagged with this
process (``dead_runs.process_tags``) and gets its pool slots before it starts
(``pool_slots.claim_slots``): runs whose process died are reaped first, and the wait for a slot
is bounded and stops on SIGTERM/SIGINT, where Dagster's own wait would spin forever.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import dagster as dg

from invoice_assets.services.dagster_instance import open_instance
from invoice_assets.services.dead_runs import IN_PROGRESS, process_tags
from invoice_assets.services.pool_slots import claim_slots, pooled_steps
from invoice_assets.services.settings import Settings

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
    """The persistent Dagster instance under DAGSTER_HOME (runs show up in ``dagster dev``);
    other processes may be opening it at the same time (``services.dagster_instance``)."""
    return open_instance(settings.prepare_dagster_home())


def materialise(
    days: Sequence[str],
    instance: dg.DagsterInstance,
    *,
    defs: dg.Definitions,
    single_run: bool = False,
    progress: Callable[[str], None] = lambda _: None,
    tags: Mapping[str, str] | None = None,
    slot_wait_seconds: float = 600.0,
) -> list[RunOutcome]:
    """One run of ``defs``' daily job per day, or one run for the whole range when ``single_run``
    (the caller builds the definitions: this layer never imports them); ``tags`` go on
    every run (who or what started it); each waits at most ``slot_wait_seconds`` for its pool
    slots (``pool_slots.SlotWaitTimeout`` / ``SlotWaitInterrupted`` end it before the run is
    created)."""
    job = defs.resolve_job_def("daily_invoices")
    pooled = pooled_steps(job)
    batches = [list(days)] if single_run and len(days) > 1 else [[d] for d in days]
    outcomes = []
    for number, batch in enumerate(batches, start=1):
        label = batch[0] if len(batch) == 1 else f"{batch[0]}..{batch[-1]}"
        run_id = str(uuid.uuid4())
        claim_slots(instance, run_id, pooled, deadline_seconds=slot_wait_seconds, progress=progress)
        progress(f"[{number}/{len(batches)}] materialising {label} (run {run_id[:8]})")
        run_tags = {**(tags or {}), **process_tags()}
        if len(batch) > 1:
            run_tags |= {RANGE_START: batch[0], RANGE_END: batch[-1]}
        try:
            result = job.execute_in_process(
                partition_key=batch[0] if len(batch) == 1 else None,
                run_id=run_id,
                tags=run_tags,
                instance=instance,
                raise_on_error=False,
                run_config=QUIET,
            )
        finally:
            _release(instance, run_id)
        failed = tuple(
            e.step_key or "?" for e in result.all_events if e.event_type_value == "STEP_FAILURE"
        )
        outcomes.append(RunOutcome(tuple(batch), result.run_id, result.success, failed))
        progress(f"[{number}/{len(batches)}] {label}: {'ok' if result.success else 'FAILED'}")
    return outcomes


def _release(instance: dg.DagsterInstance, run_id: str) -> None:
    """Slots the run still holds (claimed before it started, or left by an interrupted step)
    go back; a run an exception left in progress is marked failed, not left STARTED."""
    instance.event_log_storage.free_concurrency_slots_for_run(run_id)
    record = instance.get_run_record_by_id(run_id)
    if record is not None and record.dagster_run.status in IN_PROGRESS:
        instance.report_run_failed(record.dagster_run, "the run stopped without finishing")
