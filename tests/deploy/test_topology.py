"""The production topology of deploy/docker-compose.yaml, run here as processes: the code server,
the webserver (loading it through deploy/workspace.yaml's grpc_server entry), the daemon and the
ops API, on a PostgreSQL Dagster instance (deploy/dagster.yaml) and a PostgreSQL store, each
started with the command compose gives it. A 6-day backfill launched through the webserver's
GraphQL runs as one run per day, at most 2 at once (the instance's run queue), the `openai` pool
holds across runs, and the store ends up exactly as one serial run of the same days leaves it.
"""

from __future__ import annotations

import shutil
from contextlib import ExitStack
from pathlib import Path

import dagster as dg
import httpx
import pytest

from invoice_assets.definitions import build_definitions
from invoice_assets.demo import generate_demo
from invoice_assets.services.materialise import day_range, materialise
from tests.api.server import free_port
from tests.assets.helpers import store_for
from tests.conftest import REPO, throwaway_database
from tests.deploy.deploy_files import compose_value, healthcheck, service_command
from tests.deploy.webserver import Webserver
from tests.processes import pg_instance_env, processes, product_env, run
from tests.store_snapshot import assert_same_snapshot, store_snapshot

DAYS = day_range("2025-04-01", "2025-04-06")
INVOICES_PER_DAY = 40
RUNS_AT_ONCE = 2  # deploy/dagster.yaml: tag_concurrency_limits, dagster/backfill
POOL_LIMIT = 1  # the operator tightens the `openai` pool for this backfill (deploy default: 2)


def most_at_once(intervals: list[tuple[float, float]]) -> int:
    """The largest number of [start, end) intervals that overlap at one instant."""
    edges = sorted([(end, -1) for _, end in intervals] + [(start, 1) for start, _ in intervals])
    current = peak = 0
    for _, step in edges:  # an end sorts before a start at the same instant
        current += step
        peak = max(peak, current)
    return peak


def _healthy(argv: list[str], env: dict[str, str]) -> bool | None:
    try:
        run(argv, env, timeout=60)
    except AssertionError:
        return None
    return True


def _ops_api_ready(base: str) -> dict[str, int] | None:
    try:
        codes = {
            p: httpx.get(f"{base}{p}", timeout=10).status_code for p in ("/health", "/health/ready")
        }
    except httpx.HTTPError:
        return None
    return codes if codes["/health"] == 200 else None


@pytest.mark.timeout(400)
def test_a_six_day_backfill_runs_per_day_two_at_a_time_on_the_production_topology(
    tmp_path: Path, apply_env, monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox = tmp_path / "inbox"
    generate_demo(inbox, DAYS, INVOICES_PER_DAY, seed=5)
    grpc, web, api = (str(free_port()) for _ in range(3))
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    shutil.copy(REPO / "deploy" / "dagster.yaml", dagster_home / "dagster.yaml")

    with ExitStack() as stack:
        instance_env = pg_instance_env(stack.enter_context(throwaway_database()))
        store_url = stack.enter_context(throwaway_database())
        env = product_env(
            **instance_env,
            DAGSTER_HOME=str(dagster_home),
            DAGSTER_CODE_SERVER_HOST="127.0.0.1",
            DAGSTER_CODE_SERVER_PORT=grpc,
            INVOICE_HOME=str(tmp_path / "home"),
            INVOICE_INBOX=str(inbox),
            INVOICE_DB_URL=store_url,
            INVOICE_BACKFILL_POLICY=compose_value("codeserver", "INVOICE_BACKFILL_POLICY"),
        )
        run(service_command("dagster-init"), env)  # compose runs it before the services
        running = stack.enter_context(processes(tmp_path / "logs"))
        running.start("codeserver", service_command("codeserver", host="127.0.0.1", port=grpc), env)
        running.wait_for(
            "the code server's health check",
            lambda: _healthy(healthcheck("codeserver", port=grpc), env),
            timeout=120,
        )
        running.start("webserver", service_command("webserver", host="127.0.0.1", port=web), env)
        running.start("ops-api", service_command("ops-api", host="127.0.0.1", port=api), env)
        webserver = Webserver(f"http://127.0.0.1:{web}/graphql")
        running.wait_for("the webserver to load the location", webserver.location_loaded, 120)

        # Only the backfill's runs: the sensors would request the inbox days themselves.
        assert "inbox_sensor" in webserver.stop_sensors()
        webserver.stop_schedules()
        webserver.set_pool_limit("openai", POOL_LIMIT)
        backfill = webserver.launch_job_backfill("daily_invoices", DAYS)
        # The daemon's backfill loop first looks at requested backfills when it starts, so it
        # starts now rather than waiting up to its 30 s interval.
        running.start("daemon", service_command("daemon"), env)
        finished = running.wait_for(
            "the backfill's runs to finish",
            lambda: webserver.finished_runs(backfill, len(DAYS)),
            timeout=240,
        )
        run(healthcheck("daemon"), env)  # the daemon's heartbeats are in the instance
        api_url = f"http://127.0.0.1:{api}"
        health = running.wait_for("the ops API", lambda: _ops_api_ready(api_url), 60)
        running.stop_all()
        assert {r["status"] for r in finished} == {"SUCCESS"}, running.all_logs()
        assert health == {"/health": 200, "/health/ready": 200}

        for key, value in instance_env.items():  # the instance file reads them, here too
            monkeypatch.setenv(key, value)
        with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
            records = instance.get_run_records(dg.RunsFilter(tags={"dagster/backfill": backfill}))
            extraction_steps = [_step_interval(instance, r.dagster_run.run_id) for r in records]
            slots = instance.event_log_storage.get_concurrency_info("openai")

        # One run per day, every one a success, at most RUNS_AT_ONCE at any instant (and that
        # many did run together: the per-day runs were spread, not serialised).
        assert sorted(r.dagster_run.tags["dagster/partition"] for r in records) == DAYS
        assert {r.dagster_run.status for r in records} == {dg.DagsterRunStatus.SUCCESS}
        runs = [(r.start_time or 0.0, r.end_time or 0.0) for r in records]
        assert most_at_once(runs) == RUNS_AT_ONCE
        # The `openai` pool across runs: never more extraction steps at once than its limit,
        # and every slot given back.
        assert most_at_once(extraction_steps) <= POOL_LIMIT
        assert (slots.slot_count, slots.claimed_slots) == (POOL_LIMIT, [])

        actual = store_snapshot(store_for({"INVOICE_DB_URL": store_url}), DAYS)
        serial = {"INVOICE_HOME": str(tmp_path / "serial"), "INVOICE_INBOX": str(inbox)}
        serial["INVOICE_DB_URL"] = stack.enter_context(throwaway_database())
        apply_env(serial)  # the run's resources read INVOICE_* from the process environment
        outcomes = materialise(
            DAYS, dg.DagsterInstance.ephemeral(), single_run=True, defs=build_definitions(serial)
        )
        assert [o.success for o in outcomes] == [True]
        assert_same_snapshot(actual, store_snapshot(store_for(serial), DAYS))


def _step_interval(instance: dg.DagsterInstance, run_id: str) -> tuple[float, float]:
    """When the run's extraction step started and succeeded (its time holding a pool slot)."""
    kinds = {dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS}
    events = {
        e.dagster_event.event_type: e.timestamp
        for e in instance.all_logs(run_id, of_type=kinds)
        if e.dagster_event is not None and e.step_key == "extractions"
    }
    return events[dg.DagsterEventType.STEP_START], events[dg.DagsterEventType.STEP_SUCCESS]
