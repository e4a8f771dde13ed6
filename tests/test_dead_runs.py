"""``invoice_assets/services/dead_runs.py`` on a real (temporary) Dagster instance with the
shipped pool settings: which runs are dead, which slots are orphaned, and what reaping touches
(and never)."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from invoice_assets.services.dead_runs import (
    ALIVE,
    DEAD,
    TAG_HOST,
    TAG_PID,
    TAG_PROCESS,
    UNKNOWN,
    inspect_runs,
    process_state,
    process_tags,
    reap_dead_runs,
)
from invoice_assets.services.pool_slots import claim_slots
from invoice_assets.services.settings import Settings

POOL, STEP = "openai", "extractions"


@pytest.fixture
def instance(tmp_path: Path):
    home = Settings.from_env({"INVOICE_HOME": str(tmp_path)}).prepare_dagster_home()
    with dg.DagsterInstance.from_config(str(home)) as opened:
        yield opened


def _finished_process_tags() -> dict[str, str]:
    """Tags of a process that has exited (and been waited for)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    tags = process_tags() | {TAG_PID: str(child.pid)}
    child.wait()
    return tags


def _run(instance: dg.DagsterInstance, tags: dict[str, str]) -> str:
    """A STARTED run holding a slot, then tagged as ``tags`` say (tagged first, a dead one
    would be reaped by the claim's own reaping before it got its slot)."""
    run = instance.add_run(
        dg.DagsterRun(
            job_name="daily_invoices",
            run_id=str(uuid.uuid4()),
            status=dg.DagsterRunStatus.STARTED,
        )
    )
    claim_slots(instance, run.run_id, {STEP: POOL}, deadline_seconds=5, progress=print)
    if tags:
        instance.add_run_tags(run.run_id, tags)
    return run.run_id


def test_a_runs_process_is_alive_dead_or_unknown() -> None:
    mine = process_tags()
    assert process_state(mine) == ALIVE
    assert process_state(_finished_process_tags()) == DEAD
    assert process_state(mine | {TAG_PROCESS: "another-boot:123"}) == DEAD  # a reused pid
    assert process_state(mine | {TAG_HOST: "elsewhere"}) == UNKNOWN
    assert process_state({}) == UNKNOWN  # launched by the daemon or the UI


def test_a_dead_run_holding_a_slot_is_failed_and_its_slot_freed(instance) -> None:
    alive = _run(instance, process_tags())
    dead = _run(instance, _finished_process_tags())

    health = inspect_runs(instance, stuck_minutes=10)

    assert [r.run_id for r in health.dead] == [dead]
    assert health.dead[0].slots == [f"{POOL}/{STEP}"]
    assert [(o.run_id, o.reason) for o in health.orphaned_slots] == [
        (dead, "its run's process is gone")
    ]
    assert health.pools[POOL]["claimed"] == 2 and not health.ok

    done = reap_dead_runs(instance)

    assert {(d["run_id"], d["action"]) for d in done} == {(dead, "failed"), (dead, "slots freed")}
    record = instance.get_run_record_by_id(dead)
    assert record is not None and record.dagster_run.status == dg.DagsterRunStatus.FAILURE
    claimed = instance.event_log_storage.get_concurrency_info(POOL).claimed_slots
    assert [c.run_id for c in claimed] == [alive]
    assert inspect_runs(instance, stuck_minutes=10).ok
    assert reap_dead_runs(instance) == []  # nothing left to do, the live run untouched


def test_slots_of_finished_and_never_created_runs_are_orphans(instance) -> None:
    finished = _run(instance, {})
    instance.report_run_failed(instance.get_run_by_id(finished), "ended elsewhere")
    unborn = str(uuid.uuid4())  # claimed by a runner that died before creating its run
    instance.event_log_storage.claim_concurrency_slot(POOL, unborn, STEP)

    now = inspect_runs(instance, stuck_minutes=10)
    later = inspect_runs(instance, 10, now=datetime.now(UTC) + timedelta(minutes=2))

    assert [(o.run_id, o.reason) for o in now.orphaned_slots] == [(finished, "its run is FAILURE")]
    assert {(o.run_id, o.reason) for o in later.orphaned_slots} == {
        (finished, "its run is FAILURE"),
        (unborn, "no such run"),
    }
    reap_dead_runs(instance, now=datetime.now(UTC) + timedelta(minutes=2))
    assert instance.event_log_storage.get_concurrency_info(POOL).claimed_slots == []


def test_a_silent_run_of_unknown_liveness_is_stuck_but_never_reaped(instance) -> None:
    silent = _run(instance, {TAG_HOST: "elsewhere", TAG_PID: "1"})

    health = inspect_runs(instance, 10, now=datetime.now(UTC) + timedelta(minutes=11))

    assert [(r.run_id, r.state) for r in health.stuck] == [(silent, UNKNOWN)]
    assert health.dead == [] and health.orphaned_slots == []
    assert reap_dead_runs(instance, now=datetime.now(UTC) + timedelta(minutes=11)) == []


def test_reap_ends_a_run_the_operator_names_and_refuses_an_unknown_one(
    instance, tmp_path: Path, apply_env
) -> None:
    from click.testing import CliRunner

    from invoice_assets.cli import main

    apply_env({"INVOICE_HOME": str(tmp_path)})  # the fixture's instance is under it
    elsewhere = _run(instance, {TAG_HOST: "elsewhere", TAG_PID: "1"})

    untouched = CliRunner().invoke(main, ["reap"])
    named = CliRunner().invoke(main, ["reap", "--run-id", elsewhere, "--json"])
    unknown = CliRunner().invoke(main, ["reap", "--run-id", "no-such-run"])

    assert (untouched.exit_code, untouched.stdout.strip()) == (0, "nothing to reap")
    assert named.exit_code == 0
    assert [d["action"] for d in json.loads(named.stdout)["done"]] == ["failed", "slots freed"]
    record = instance.get_run_record_by_id(elsewhere)
    assert record is not None and record.dagster_run.status == dg.DagsterRunStatus.FAILURE
    assert instance.event_log_storage.get_concurrency_info(POOL).claimed_slots == []
    assert unknown.exit_code == 1 and "no run no-such-run" in unknown.stdout
