"""A run's concurrency-pool slots, claimed before the run starts, in a wait that always ends.

What it is for: Dagster's in-process executor waits for a pool slot (the ``openai`` pool of the
``extractions`` step) in a loop that never times out, spins the CPU and, capturing SIGTERM and
SIGINT for its steps, never stops for them. The runner therefore claims each pooled step's slot
itself, under the run id it then gives Dagster (whose own claim for that step finds the slot
already held and goes straight on). This wait: reaps dead runs first and on every poll
(``dead_runs.reap_dead_runs``), says what it waits for (the pool, its holders and their
processes), ends at its deadline (``SlotWaitTimeout``) or on SIGTERM/SIGINT
(``SlotWaitInterrupted``), and leaves no claim behind when it ends without the slots.

Not for: the executor's own concurrency, or pools of runs launched by the daemon (they queue in
Dagster's run coordinator).
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

import dagster as dg

from invoice_assets.services.dead_runs import inspect_runs, reap_dead_runs

POLL_SECONDS = 1.0
REPORT_EVERY_SECONDS = 15.0


class SlotWaitTimeout(Exception):
    """No slot came free within the wait's deadline."""


class SlotWaitInterrupted(Exception):
    """SIGTERM or SIGINT arrived while waiting for a slot."""

    def __init__(self, signum: int, message: str) -> None:
        super().__init__(message)
        self.signum = signum


def pooled_steps(job: dg.JobDefinition) -> dict[str, str]:
    """step key → pool, for the steps of ``job`` that declare a pool."""
    return {
        node.name: node.definition.pool
        for node in job.graph.nodes
        if isinstance(node.definition, dg.OpDefinition) and node.definition.pool
    }


def _pool_enforced(instance: dg.DagsterInstance, pool: str) -> bool:
    """Whether Dagster limits ``pool`` for in-process steps, initialising its slots from the
    instance's default limit as the executor itself would."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return False
    config = storage.get_pool_config()
    if str(getattr(config.pool_granularity, "value", config.pool_granularity)) == "run":
        return False
    limits = {p.name: p for p in storage.get_pool_limits()}
    default, known = config.default_pool_limit, limits.get(pool)
    if (known is None and default is not None) or (
        known is not None and known.from_default and known.limit != default
    ):
        storage.initialize_concurrency_limit_to_default(pool)
        known = {p.name: p for p in storage.get_pool_limits()}.get(pool)
    return known is not None


def _holders(instance: dg.DagsterInstance, pool: str) -> str:
    health = inspect_runs(instance, stuck_minutes=float("inf"))
    views = {r.run_id: r for r in health.runs}
    limit = health.pools.get(pool, {}).get("limit", "?")
    parts = []
    for claimed in instance.event_log_storage.get_concurrency_info(pool).claimed_slots:
        run = views.get(claimed.run_id)
        who = f"{run.process}, {run.state}" if run and run.process else "process unknown"
        parts.append(f"run {claimed.run_id[:8]} ({who})")
    return f"pool '{pool}' (limit {limit}) held by {', '.join(parts) or 'nobody'}"


@contextmanager
def _signals_to(stop: threading.Event, received: list[int]) -> Iterator[None]:
    """SIGTERM and SIGINT end the wait (main thread only: elsewhere Python cannot catch them,
    and the caller's own handling stays)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, _frame: object) -> None:
        received.append(signum)
        stop.set()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for number, old in previous.items():
            signal.signal(number, old)


def claim_slots(
    instance: dg.DagsterInstance,
    run_id: str,
    steps: Mapping[str, str],
    *,
    deadline_seconds: float,
    progress: Callable[[str], None],
    stop: threading.Event | None = None,
) -> None:
    """Claim a slot of its pool for each pooled step of the run ``run_id`` (not yet created).

    Returns when every slot is held; raises ``SlotWaitTimeout`` after ``deadline_seconds`` or
    ``SlotWaitInterrupted`` on SIGTERM/SIGINT (or ``stop``), having withdrawn its claims."""
    stop = stop or threading.Event()
    received: list[int] = []
    storage = instance.event_log_storage
    deadline = time.monotonic() + deadline_seconds
    with _signals_to(stop, received):
        try:
            for step, pool in steps.items():
                if not _pool_enforced(instance, pool):
                    continue
                reported = 0.0
                while True:
                    for action in reap_dead_runs(instance):
                        progress(f"reaped run {action['run_id'][:8]}: {action['action']}")
                    if storage.claim_concurrency_slot(pool, run_id, step).is_claimed:
                        break
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise SlotWaitTimeout(
                            f"no slot of {_holders(instance, pool)} within {deadline_seconds:g} s"
                        )
                    if time.monotonic() - reported >= REPORT_EVERY_SECONDS:
                        reported = time.monotonic()
                        progress(
                            f"waiting for a slot of {_holders(instance, pool)}; "
                            f"giving up in {left:.0f} s (Ctrl-C stops)"
                        )
                    if stop.wait(min(POLL_SECONDS, left)):
                        name = signal.Signals(received[0]).name if received else "stop"
                        raise SlotWaitInterrupted(
                            received[0] if received else 0,
                            f"{name} while waiting for a slot of pool '{pool}'; no run started",
                        )
        except BaseException:
            storage.free_concurrency_slots_for_run(run_id)
            raise
