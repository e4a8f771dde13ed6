"""Runs whose process is gone, and the concurrency-pool slots nobody will give back.

What it is for: ``invoice-ops run`` executes a run in its own process on the persistent Dagster
instance. If that process dies (SIGKILL, the OOM killer, a reboot), Dagster keeps the run STARTED
and its ``openai`` pool slots claimed forever, and every later run waits for a slot. Runs launched
here therefore carry tags naming their process (``process_tags``: host, pid, and the process's
start — boot id and start tick — so a reused pid is not mistaken for it). ``inspect_runs`` tells
which in-progress runs are dead (their process is known gone), which are stuck (no event for
Recovery.STUCK_MINUTES) and which slots are orphaned (held by a dead, finished or unknown run);
``reap_dead_runs`` marks the dead runs failed and frees those slots. Readiness, ``status``, the
runner (before it waits for a slot) and the stuck sensor call them.

Not for: runs on another host or without these tags (launched by the daemon or the UI): their
liveness is unknown here, so they are reported when stuck but never reaped (Dagster's run
monitoring, or an operator, ends them). Only public Dagster APIs are used.
"""

from __future__ import annotations

import os
import socket
import threading
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import dagster as dg

from invoice_assets.kernel.clock import SYSTEM_CLOCK

TAG_HOST, TAG_PID, TAG_PROCESS = "invoice/host", "invoice/pid", "invoice/process"
ALIVE, DEAD, UNKNOWN = "alive", "dead", "unknown"
IN_PROGRESS = [
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]
FINISHED = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}
# A slot claimed for a run id with no run yet: the runner claims just before Dagster creates the
# run (well within a second); after this long the claimant died before creating it.
UNBORN_GRACE = timedelta(seconds=60)


_INSTANCES: dict[Path, dg.DagsterInstance] = {}
_INSTANCES_LOCK = threading.Lock()


def open_instance(dagster_home: Path | None) -> dg.DagsterInstance | None:
    """The Dagster instance under ``dagster_home`` (None without a ``dagster.yaml`` there),
    opened once per process: opening one costs about a second, more than a readiness check
    may take, and a server asks again every few seconds."""
    if dagster_home is None or not (dagster_home / "dagster.yaml").is_file():
        return None
    with _INSTANCES_LOCK:
        instance = _INSTANCES.get(dagster_home)
        if instance is None:
            instance = _INSTANCES[dagster_home] = dg.DagsterInstance.from_config(str(dagster_home))
        return instance


@cache
def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _identity(pid: int) -> str | None:
    """``boot id:start tick`` of a live process, "" if it lives but /proc cannot tell (not
    Linux), None if there is no such process or it is a zombie (dead, not yet reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    except OSError:
        stat = ""
    if stat:
        fields = stat.rsplit(")", 1)[1].split()  # the command name may hold spaces and ')'
        return None if fields[0] in ("Z", "X") else f"{_boot_id()}:{fields[19]}"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # another user's process: it exists
    return ""


def process_tags() -> dict[str, str]:
    """The tags that let another process tell whether this one still runs."""
    pid = os.getpid()
    return {TAG_HOST: socket.gethostname(), TAG_PID: str(pid), TAG_PROCESS: _identity(pid) or ""}


def process_state(tags: dict[str, str]) -> str:
    """ALIVE or DEAD for a run launched on this host with ``process_tags``, else UNKNOWN."""
    host, pid = tags.get(TAG_HOST), tags.get(TAG_PID, "")
    if host != socket.gethostname() or not pid.isdigit():
        return UNKNOWN
    now = _identity(int(pid))
    if now is None:
        return DEAD
    recorded = tags.get(TAG_PROCESS, "")
    return DEAD if recorded and now and now != recorded else ALIVE


@dataclass(frozen=True)
class RunView:
    run_id: str
    job: str
    status: str
    process: str  # "pid 123 on host", or "" when the run was not launched by invoice-ops
    state: str  # ALIVE, DEAD or UNKNOWN
    last_event_at: str
    idle_minutes: float
    slots: list[str] = field(default_factory=list)  # "pool/step" held


@dataclass(frozen=True)
class Orphan:
    pool: str
    run_id: str
    step_key: str
    reason: str


@dataclass(frozen=True)
class RunsHealth:
    runs: list[RunView]  # in progress
    dead: list[RunView]
    stuck: list[RunView]  # alive or unknown, no event for stuck_minutes
    orphaned_slots: list[Orphan]
    pools: dict[str, dict[str, int]]

    @property
    def ok(self) -> bool:
        return not (self.dead or self.stuck or self.orphaned_slots)

    def as_dict(self) -> dict[str, Any]:
        return {
            "in_progress": len(self.runs),
            "dead_runs": [asdict(r) for r in self.dead],
            "stuck_runs": [asdict(r) for r in self.stuck],
            "orphaned_slots": [asdict(o) for o in self.orphaned_slots],
            "pools": self.pools,
        }


def _view(record: Any, now: datetime, slots: list[str]) -> RunView:
    run = record.dagster_run
    last = record.update_timestamp
    last = last.replace(tzinfo=UTC) if last.tzinfo is None else last
    tags = dict(run.tags)
    process = f"pid {tags[TAG_PID]} on {tags[TAG_HOST]}" if TAG_PID in tags else ""
    return RunView(
        run.run_id,
        run.job_name,
        run.status.value,
        process,
        process_state(tags),
        last.isoformat(),
        round((now - last).total_seconds() / 60.0, 1),
        slots,
    )


def inspect_runs(
    instance: dg.DagsterInstance, stuck_minutes: float, now: datetime | None = None
) -> RunsHealth:
    """In-progress runs with their liveness, the stuck and dead ones, and orphaned slots."""
    now = SYSTEM_CLOCK.now() if now is None else now
    storage = instance.event_log_storage
    held: dict[str, list[tuple[str, str, datetime | None]]] = {}
    pools: dict[str, dict[str, int]] = {}
    if storage.supports_global_concurrency_limits:
        for pool in sorted(storage.get_concurrency_keys()):
            info = storage.get_concurrency_info(pool)
            enqueued = {(p.run_id, p.step_key): p.enqueued_timestamp for p in info.pending_steps}
            claimed = [(c.run_id, c.step_key) for c in info.claimed_slots]
            pools[pool] = {
                "limit": int(info.slot_count),
                "claimed": len(claimed),
                "waiting": len(enqueued) - len(claimed),
            }
            for run_id, step in set(claimed) | set(enqueued):
                held.setdefault(run_id, []).append((pool, step, enqueued.get((run_id, step))))
    records = {
        r.dagster_run.run_id: r
        for r in instance.get_run_records(dg.RunsFilter(statuses=IN_PROGRESS))
    }
    runs = [
        _view(r, now, [f"{p}/{s}" for p, s, _ in held.get(run_id, [])])
        for run_id, r in records.items()
    ]
    orphans = []
    for run_id, steps in held.items():
        reason = _orphan_reason(instance, run_id, records.get(run_id), steps, now)
        orphans += [Orphan(pool, run_id, step, reason) for pool, step, _ in steps if reason]
    return RunsHealth(
        runs,
        [r for r in runs if r.state == DEAD],
        [r for r in runs if r.state != DEAD and r.idle_minutes >= stuck_minutes],
        orphans,
        pools,
    )


def _orphan_reason(
    instance: dg.DagsterInstance,
    run_id: str,
    record: Any,
    steps: list[tuple[str, str, datetime | None]],
    now: datetime,
) -> str:
    """Why nobody will free this run's slots ("" when its run may still do it)."""
    if record is not None:
        state = process_state(dict(record.dagster_run.tags))
        return "its run's process is gone" if state == DEAD else ""
    known = instance.get_run_record_by_id(run_id)
    if known is not None:
        status = known.dagster_run.status
        return f"its run is {status.value}" if status in FINISHED else ""
    times = [t.replace(tzinfo=UTC) if t.tzinfo is None else t for _, _, t in steps if t]
    if times and now - max(times) < UNBORN_GRACE:
        return ""  # a run being launched right now
    return "no such run"


def reap_dead_runs(
    instance: dg.DagsterInstance, stuck_minutes: float = 0.0, now: datetime | None = None
) -> list[dict[str, str]]:
    """Mark every in-progress run whose process is known gone as failed, and free the slots
    of dead, finished and unknown runs. Returns what was done, one entry per run. Safe to call
    from any process at any time (the CLI before a run waits, the stuck sensor on each tick):
    a live run, or one whose liveness cannot be told, is never touched."""
    health = inspect_runs(instance, stuck_minutes, now)
    done = []
    for run in health.dead:
        record = instance.get_run_record_by_id(run.run_id)
        if record is None or record.dagster_run.status not in IN_PROGRESS:
            continue  # another process reaped it first
        message = f"the run's process ({run.process}) is gone; marked failed by invoice-ops"
        instance.report_run_failed(record.dagster_run, message=message)
        done.append({"run_id": run.run_id, "action": "failed", "why": message})
    for run_id in sorted(
        {o.run_id for o in health.orphaned_slots} | {r.run_id for r in health.dead}
    ):
        instance.event_log_storage.free_concurrency_slots_for_run(run_id)
        why = next((o.reason for o in health.orphaned_slots if o.run_id == run_id), "")
        done.append({"run_id": run_id, "action": "slots freed", "why": why})
    return done
