"""Runs killed while they hold the ``openai`` pool, and runs waiting for it.

Real ``invoice-ops run`` processes on a persistent Dagster instance (SQLite under DAGSTER_HOME):
two are SIGKILLed while each holds a pool slot (the pool's limit is 2), then a third must reap
them and complete; ``health`` and ``status`` must see the dead runs and their slots meanwhile. A
run waiting for a slot that a live run holds must give up at its deadline, saying what it waited
for, and end promptly on SIGTERM or SIGINT.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import pytest

from invoice_assets.demo import generate_demo
from invoice_assets.services.dead_runs import process_tags, reap_dead_runs
from invoice_assets.services.pool_slots import claim_slots
from invoice_assets.services.settings import Settings
from tests.conftest import REPO
from tests.processes import cli, product_env

DAY = "2025-05-06"
POOL = "openai"


def _env(home: Path) -> dict[str, str]:
    return product_env(INVOICE_HOME=str(home))


def _start(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "invoice_assets.cli", "run", "--date", DAY, *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _instance(home: Path) -> dg.DagsterInstance:
    settings = Settings.from_env({"INVOICE_HOME": str(home)})
    return dg.DagsterInstance.from_config(str(settings.prepare_dagster_home()))


def _holders(instance: dg.DagsterInstance) -> set[str]:
    return {c.run_id for c in instance.event_log_storage.get_concurrency_info(POOL).claimed_slots}


def _running_holders(instance: dg.DagsterInstance) -> set[str]:
    """Runs that exist, are STARTED and hold a slot: mid-run, in the extractions step."""
    started = instance.get_run_ids(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
    return _holders(instance) & set(started)


def _until(condition: Callable[[], bool], process: subprocess.Popen[str], what: str) -> None:
    """Poll ``condition`` every 10 ms while ``process`` runs (fails if it ends first)."""
    deadline = time.monotonic() + 180
    while not condition():
        if process.poll() is not None:
            pytest.fail(f"the run ended (rc {process.returncode}) before {what}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"never reached: {what}")
        time.sleep(0.01)


def test_runs_killed_while_holding_the_pool_never_block_the_next_run(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = _env(home)
    generate_demo(home / "inbox", [DAY], 3_000)
    instance = _instance(home)
    killed: list[str] = []

    for _ in range(2):  # as in the report: two runs SIGKILLed mid-run
        process = _start(env)
        _until(lambda: bool(_running_holders(instance) - set(killed)), process, "mid-run")
        (run_id,) = _running_holders(instance) - set(killed)
        process.kill()
        assert process.wait(timeout=30) == -signal.SIGKILL
        killed.append(run_id)
        assert process.stderr is not None
        err = process.stderr.read()
    first, second = killed
    # the second run reaped the first before it claimed a slot; the second's own slot is held
    assert f"reaped run {first[:8]}: failed" in err
    assert _holders(instance) == {second}

    health = cli(env, "health", "--json", "--timeout", "15")
    assert health.returncode == 1, health.stdout + health.stderr
    report = json.loads(health.stdout)
    assert report["failing_checks"] == ["runs"]
    runs = report["checks"]["runs"]
    assert [r["run_id"] for r in runs["dead_runs"]] == [second]
    assert runs["dead_runs"][0]["slots"] == ["openai/extractions"]
    assert [o["run_id"] for o in runs["orphaned_slots"]] == [second]
    status = cli(env, "status")
    assert status.returncode == 1
    assert status.stdout.startswith("1. working?      NO  failing: runs"), status.stdout
    assert f"dead run {second[:8]}" in status.stdout

    again = cli(env, "run", "--date", DAY, timeout=600)

    assert again.returncode == 0, again.stderr[-3000:]
    assert "materialised 1 day(s)" in again.stdout
    assert f"reaped run {second[:8]}: failed" in again.stderr
    for run_id in killed:
        record = instance.get_run_record_by_id(run_id)
        assert record is not None and record.dagster_run.status == dg.DagsterRunStatus.FAILURE
    assert _holders(instance) == set()
    assert cli(env, "health", "--timeout", "15").returncode == 0


def _fill_pool_with_live_runs(instance: dg.DagsterInstance) -> list[str]:
    """Both slots held by runs of this (live) test process."""
    holders = []
    for _ in range(2):
        run = instance.add_run(
            dg.DagsterRun(
                job_name="daily_invoices",
                run_id=str(uuid.uuid4()),
                status=dg.DagsterRunStatus.STARTED,
                tags=process_tags(),
            )
        )
        claim_slots(instance, run.run_id, {"extractions": POOL}, deadline_seconds=5, progress=print)
        holders.append(run.run_id)
    assert _holders(instance) == set(holders)
    return holders


def _lines(stream) -> queue.Queue[str]:
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in stream], daemon=True).start()
    return lines


def _wait_for_line(lines: queue.Queue[str], needle: str) -> str:
    while True:
        line = lines.get(timeout=120)  # the run prints this as it starts waiting
        if needle in line:
            return line


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_run_waiting_for_a_slot_ends_promptly_on_a_signal(tmp_path: Path, signum: int) -> None:
    home = tmp_path / "home"
    generate_demo(home / "inbox", [DAY], 10)
    instance = _instance(home)
    holders = _fill_pool_with_live_runs(instance)
    process = _start(_env(home))
    lines = _lines(process.stderr)

    waiting = _wait_for_line(lines, "waiting for a slot")
    started = time.monotonic()
    process.send_signal(signum)
    code = process.wait(timeout=60)

    assert "pool 'openai' (limit 2) held by run" in waiting
    assert f"pid {os.getpid()}" in waiting and "alive" in waiting
    assert code == 128 + signum
    assert time.monotonic() - started < 30
    assert f"{signal.Signals(signum).name} while waiting for a slot" in "".join(lines.queue)
    assert _holders(instance) == set(holders)  # nothing of the interrupted run is left
    pending = instance.event_log_storage.get_concurrency_info(POOL).pending_steps
    assert {p.run_id for p in pending} == set(holders)
    assert instance.get_runs_count(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])) == 2


def test_a_run_waiting_for_a_live_run_gives_up_at_its_deadline_naming_the_holders(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    generate_demo(home / "inbox", [DAY], 10)
    instance = _instance(home)
    holders = _fill_pool_with_live_runs(instance)

    done = cli(_env(home), "run", "--date", DAY, "--wait-seconds", "2")

    assert done.returncode == 1
    assert "no slot of pool 'openai' (limit 2) held by run" in done.stderr
    assert all(f"run {h[:8]} (pid {os.getpid()}" in done.stderr for h in holders)
    assert "within 2 s" in done.stderr
    assert reap_dead_runs(instance) == []  # live holders are never reaped
    assert _holders(instance) == set(holders)
