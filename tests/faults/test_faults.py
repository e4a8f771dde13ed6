"""Fault injection: a run killed mid-partition, the database going away, a 429 storm from the
OpenAI API, a webhook that is down. Each fault is real (SIGKILL of a run process, PostgreSQL
refusing connections, the OpenAI stand-in answering 429, a closed port), and each test checks what
the operator relies on afterwards: nothing lost, nothing doubled, operator work kept.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import psycopg2
import pytest
from sqlalchemy import func, select

from invoice_assets.automation.sensors import stuck_sensor
from invoice_assets.definitions import build_resources
from invoice_assets.domain.digest import digest_alerts
from invoice_assets.domain.feedback import validate_feedback
from invoice_assets.kernel.clock import SYSTEM_CLOCK
from invoice_assets.services.monitoring import stuck_runs
from invoice_assets.standin import StandIn
from resources.openai_extractor import OpenAIExtractor
from resources.store import InvoiceStore, dispose_engine
from resources.store import schema as s
from resources.thresholds import load_thresholds
from tests.api.server import free_port
from tests.assets.helpers import graph_assets, materialize_day, store_for
from tests.conftest import PG_ADMIN, REPO, SMOKE, openai_day, put_smoke_fixtures
from tests.instance_helpers import make_stuck_run
from tests.resources.test_openai_extractor import KEY, tiny_pdf, tiny_png
from tests.webhook import Receiver

DAY = "2025-03-04"
BULK = 3_000  # invoices in the bulk file: parsing them keeps a run busy long enough to kill it
STAGES = ("extractions", "validations", "offers", "quality_scores")
S2_KEY = "smoke|SMOKE-s2_mismatch_invoice|2025-01"


# -- helpers ---------------------------------------------------------------------------------------
def _bulk_file(folder: Path, n: int = BULK) -> int:
    """``n`` compact records in one .jsonl; every 50th prints a total 8 000 TL too high (S2).

    Returns how many of them must become incidents."""
    record = json.loads((SMOKE / "happy_path_invoice.json").read_text(encoding="utf-8"))
    record["line_items"] = []
    for field in record["extraction"].values():
        field.pop("evidence", None)
    lines = []
    for i in range(n):
        record["invoice"]["ettn"] = f"bulk-{i:06d}"
        record["extraction"]["invoice_total_with_vat_tl"]["value"] = (
            50_000 if i % 50 == 0 else 42_000
        )
        lines.append(json.dumps(record, separators=(",", ":")))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "bulk.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(range(0, n, 50))


def _start_run(env: dict[str, str], day: str, log: Path) -> subprocess.Popen[bytes]:
    """``invoice-ops run --date DAY`` as its own process (its own Dagster instance and store)."""
    full = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("INVOICE_", "OPENAI_")) and k != "DAGSTER_HOME"
    }
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "invoice_assets.cli", "run", "--date", day],
            cwd=REPO,
            env=full | env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _wait_until(
    condition: Callable[[], bool], process: subprocess.Popen[bytes], log: Path, timeout: float = 90
) -> None:
    """Poll ``condition`` every 10 ms while the run process is alive (fails if it ends first)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            pytest.fail(
                f"the run ended (rc {process.returncode}) first:\n{log.read_text()[-3000:]}"
            )
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("the run never reached the state to interrupt")
        time.sleep(0.01)


def _kill(process: subprocess.Popen[bytes]) -> None:
    assert process.poll() is None, "the run must still be running when it is killed"
    os.kill(process.pid, signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL


def _duplicates(store: InvoiceStore) -> dict[str, int]:
    """Keys that occur more than once, per table (must all be zero)."""
    out = {}
    with store.engine.connect() as conn:
        for name in STAGES:
            table = s.STAGE_TABLES[name]
            keyed = select(table.c.invoice_key).group_by(table.c.day, table.c.invoice_key)
            out[name] = conn.execute(
                select(func.count()).select_from(keyed.having(func.count() > 1).subquery())
            ).scalar_one()
        flags = s.flags
        out["flags"] = conn.execute(
            select(func.count()).select_from(
                select(flags.c.flag)
                .group_by(flags.c.day, flags.c.invoice_key, flags.c.flag)
                .having(func.count() > 1)
                .subquery()
            )
        ).scalar_one()
        out["incidents"] = conn.execute(
            select(func.count()).select_from(
                select(s.incidents.c.dedupe_key)
                .group_by(s.incidents.c.dedupe_key)
                .having(func.count() > 1)
                .subquery()
            )
        ).scalar_one()
    return out


def _state(store: InvoiceStore, day: str) -> dict[str, object]:
    """Row counts per stage and the set of incident dedupe keys of the day."""
    counts = {name: len(store.read_stage(name, [day])) for name in (*STAGES, "flags")}
    keys = sorted(i["dedupe_key"] for i in store.list_incidents(day=day, limit=100_000))
    return {"rows": counts, "incident_keys": keys}


def _resolve_with_feedback(store: InvoiceStore) -> dict:
    (incident,) = [i for i in store.list_incidents(limit=100_000) if i["invoice_key"] == S2_KEY]
    now = SYSTEM_CLOCK.now()
    store.set_incident_status(incident["incident_id"], "RESOLVED", "manual_resolved", now)
    feedback = validate_feedback(
        {
            "action_taken": "VERIFIED_LOGIC",
            "was_hint_correct": True,
            "actual_root_cause": "reactive energy line missing",
            "resolution_time_seconds": 300,
        }
    )
    updated = store.put_feedback(incident["incident_id"], feedback, "alice", now)
    assert updated is not None
    return updated


OPERATOR_FIELDS = (
    "incident_id",
    "status",
    "resolution_reason",
    "resolved_at",
    "feedback_json",
    "feedback_by",
    "feedback_at",
    "was_hint_correct",
    "resolution_time_seconds",
)


# -- a run killed in the middle of a partition ----------------------------------------------------
def test_a_run_killed_mid_partition_and_rerun_leaves_no_duplicates_and_keeps_operator_work(
    tmp_path: Path, sqlite_env: dict[str, str], apply_env
) -> None:
    env = apply_env(sqlite_env)
    home = Path(env["INVOICE_HOME"])
    put_smoke_fixtures(home / "inbox", DAY, broken=True)
    _bulk_file(home / "inbox" / DAY)
    assert materialize_day(env, DAY).success
    store = store_for(env)
    clean = _state(store, DAY)
    resolved = _resolve_with_feedback(store)
    kept = {k: resolved[k] for k in OPERATOR_FIELDS}

    # 1. killed while extracting: the queue shows the files 'processing'
    first = _start_run(env, DAY, tmp_path / "run-1.log")
    _wait_until(
        lambda: set(store.inbox_files([DAY])["status"]) == {"processing"},
        first,
        tmp_path / "run-1.log",
    )
    _kill(first)
    assert set(store.inbox_files([DAY])["status"]) == {"processing"}
    assert _state(store, DAY) == clean

    # 2. killed between stages: extractions rewritten by the new run, incidents not yet
    with store.engine.connect() as conn:
        stamped = conn.execute(select(func.max(s.extractions.c.started_at))).scalar()
        seen = conn.execute(select(func.max(s.incidents.c.last_seen_at))).scalar()

    def extractions_rewritten() -> bool:
        with store.engine.connect() as conn:
            return conn.execute(select(func.max(s.extractions.c.started_at))).scalar() != stamped

    second = _start_run(env, DAY, tmp_path / "run-2.log")
    _wait_until(extractions_rewritten, second, tmp_path / "run-2.log")
    _kill(second)
    with store.engine.connect() as conn:
        assert conn.execute(select(func.max(s.incidents.c.last_seen_at))).scalar() == seen
    assert _state(store, DAY)["rows"]["extractions"] == clean["rows"]["extractions"]

    # the second run marked the first (its process gone) failed before it waited for a slot;
    # the second stays STARTED until the next run reaps it: the stuck sensor sees it
    with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
        (left,) = stuck_runs(instance, stuck_minutes=0)
        statuses = {r.dagster_run.run_id: r.dagster_run.status for r in instance.get_run_records()}
    assert sorted(s.value for s in statuses.values()) == ["FAILURE", "STARTED"]
    assert statuses[left["run_id"]] == dg.DagsterRunStatus.STARTED

    # 3. the rerun completes: the same rows and incidents as the clean run, operator work kept
    assert materialize_day(env, DAY).success
    assert _state(store, DAY) == clean
    assert set(_duplicates(store).values()) == {0}
    after = store.get_incident(kept["incident_id"])
    assert after is not None
    assert {k: after[k] for k in OPERATOR_FIELDS} == kept
    assert after["status"] == "RESOLVED"
    assert after["feedback_json"]["actual_root_cause"] == "reactive energy line missing"
    assert after["occurrence_count"] >= 2
    queue = store.inbox_files([DAY])
    assert set(queue["status"]) <= {"done", "failed"}
    assert set(queue["attempts"]) == {4}
    assert store.queue_state(stuck_minutes=10)["current_depth"] == 0


# -- the database goes away during a run ---------------------------------------------------------
def _admin_sql(sql: str, *args: object) -> None:
    conn = psycopg2.connect(PG_ADMIN)
    conn.autocommit = True
    try:
        with conn.cursor() as cursor:
            cursor.execute(sql, args or None)
    finally:
        conn.close()


@contextmanager
def _monitor(pg_url: str) -> Iterator[psycopg2.extensions.connection]:
    """A connection opened before the outage and spared by it (to look at the database)."""
    name = pg_url.rsplit("/", 1)[-1]
    conn = psycopg2.connect(f"dbname={name} user=postgres host=127.0.0.1 port=5432")
    conn.autocommit = True
    try:
        yield conn
    finally:
        conn.close()


def _query(conn: psycopg2.extensions.connection, sql: str, *args: object) -> list[tuple]:
    with conn.cursor() as cursor:
        try:
            cursor.execute(sql, args or None)
        except psycopg2.errors.UndefinedTable:
            return []
        return cursor.fetchall()


def _refuse_connections(name: str, spare_pid: int) -> None:
    _admin_sql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
    _admin_sql(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> %s",
        name,
        spare_pid,
    )


def _allow_connections(name: str) -> None:
    _admin_sql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')


def test_a_database_outage_fails_the_run_cleanly_and_a_rerun_completes(
    tmp_path: Path, pg_url: str, apply_env
) -> None:
    name = pg_url.rsplit("/", 1)[-1]
    env = apply_env({"INVOICE_HOME": str(tmp_path / "home"), "INVOICE_DB_URL": pg_url})
    inbox = tmp_path / "home" / "inbox"
    put_smoke_fixtures(inbox, DAY)
    assert materialize_day(env, DAY).success
    store = store_for(env)
    before = _state(store, DAY)
    assert before["rows"]["extractions"] == 3
    expected_bulk_incidents = _bulk_file(inbox / DAY)

    # 1. the database refuses connections before the run: it fails fast, nothing changes
    dispose_engine(pg_url)
    _refuse_connections(name, spare_pid=0)
    try:
        started = time.monotonic()
        failed = dg.materialize(
            graph_assets(),
            partition_key=DAY,
            resources=build_resources(env),
            instance=dg.DagsterInstance.ephemeral(),
            raise_on_error=False,
        )
        assert not failed.success
        assert time.monotonic() - started < 30
    finally:
        _allow_connections(name)
    dispose_engine(pg_url)
    assert _state(store, DAY) == before

    # 2. the database goes away while the run extracts the day
    log = tmp_path / "run.log"
    with _monitor(pg_url) as monitor:
        run = _start_run(env, DAY, log)

        def extracting() -> bool:
            rows = _query(monitor, "SELECT DISTINCT status FROM inbox_files WHERE day = %s", DAY)
            return {r[0] for r in rows} == {"processing"}

        _wait_until(extracting, run, log)
        _refuse_connections(name, spare_pid=monitor.get_backend_pid())
        try:
            assert run.wait(timeout=90) == 1, log.read_text()[-3000:]
            assert "failed at extractions" in log.read_text()
            # no partial partition: every stage still holds exactly the previous run's rows
            for stage in (*STAGES, "flags"):
                ((count,),) = _query(monitor, f"SELECT count(*) FROM {stage} WHERE day = %s", DAY)
                assert count == before["rows"][stage], stage
            ((incidents,),) = _query(monitor, "SELECT count(*) FROM incidents")
            assert incidents == len(before["incident_keys"])
        finally:
            _allow_connections(name)
    dispose_engine(pg_url)

    # 3. back up: the rerun completes with every invoice of the day
    assert materialize_day(env, DAY).success
    after = _state(store, DAY)
    assert after["rows"]["extractions"] == 3 + BULK
    assert after["rows"]["quality_scores"] == 3 + BULK
    assert len(after["incident_keys"]) == len(before["incident_keys"]) + expected_bulk_incidents
    assert set(before["incident_keys"]) <= set(after["incident_keys"])
    assert set(_duplicates(store).values()) == {0}
    assert set(store.inbox_files([DAY])["status"]) == {"done"}


# -- the OpenAI API answers 429 to everything ----------------------------------------------------
def test_a_rate_limit_storm_loses_nothing_and_ends_in_exhausted_extractions_and_an_alert(
    tmp_path: Path, apply_env
) -> None:
    with StandIn(api_key=KEY) as standin:
        env, folder = openai_day(apply_env, tmp_path / "home", standin.base_url, KEY, DAY)
        documents = [f"scan-{n}.pdf" for n in range(6)] + ["photo-0.png", "photo-1.png"]
        for n, document in enumerate(documents):
            content = tiny_pdf(str(n)) if document.endswith(".pdf") else tiny_png() + bytes([n])
            (folder / document).write_bytes(content)
        put_smoke_fixtures(tmp_path / "home" / "inbox", DAY)
        received = len(documents) + 3
        standin.rate_limit(100_000)

        def run() -> dg.ExecuteInProcessResult:
            resources = build_resources(env)
            resources["openai"] = OpenAIExtractor(
                api_key=KEY,
                base_url=standin.base_url,
                timeout_seconds=2.0,
                max_retries=1,
                max_attempts=2,
            )
            return dg.materialize(
                graph_assets(),
                partition_key=DAY,
                resources=resources,
                instance=dg.DagsterInstance.ephemeral(),
            )

        store = store_for(env)
        for attempt in (1, 2):
            result = run()
            assert result.success
            rows = store.read_stage("extractions", [DAY]).set_index("source_file")
            assert len(rows) == received
            assert (rows["status"] == "ok").sum() + (rows["status"] == "failed").sum() == received
            assert set(rows.loc[documents, "error_code"]) == {"rate_limited"}
            assert set(rows.loc[documents, "http_status"]) == {429}
            assert set(rows.drop(index=documents)["status"]) == {"ok"}
            queue = store.inbox_files([DAY]).set_index("file_name")
            assert set(queue.loc[documents, "attempts"]) == {attempt}
            assert set(queue.loc[documents, "error_code"]) == {"rate_limited"}
            # each document: one request and one retry of the client, per attempt
            assert standin.calls == 2 * len(documents) * attempt
            metadata = result.asset_materializations_for_node("extractions")[0].metadata
            assert metadata["invoices_received"].value == received
            assert metadata["invoices_failed"].value == len(documents)

        third = run()

        assert third.success
        assert standin.calls == 2 * len(documents) * 2  # exhausted documents are not sent again
        rows = store.read_stage("extractions", [DAY]).set_index("source_file")
        assert len(rows) == received
        assert set(rows.loc[documents, "error_code"]) == {"exhausted"}
        failed = [
            i for i in store.list_incidents(limit=1000) if i["primary_flag"] == "EXTRACTION_FAILED"
        ]
        assert sorted(i["error_code"] for i in failed) == ["exhausted"] * len(documents)
        counts = store.digest_counts(DAY, DAY)
        assert counts["extraction_exhausted"] == len(documents)
        assert counts["extraction_attempted"] >= len(documents)
        alerts = {a.code: a for a in digest_alerts(counts, load_thresholds())}
        assert "EXHAUSTED_RATE" in alerts
        assert alerts["EXHAUSTED_RATE"].context["exhausted"] == len(documents)


# -- the alert webhook is down -------------------------------------------------------------------
class _ReceiverOn(Receiver):
    """The test webhook receiver, bound to a port chosen beforehand (the one the alerts use)."""

    def __init__(self, port: int) -> None:
        super().__init__()
        handler = self.server.RequestHandlerClass
        self.server.server_close()
        self.server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.url = f"http://127.0.0.1:{port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)


def test_an_alert_raised_while_the_webhook_is_down_is_delivered_by_a_later_sensor_tick(
    tmp_path: Path, sqlite_env: dict[str, str], apply_env
) -> None:
    port = free_port()  # nothing listens here until the receiver comes up
    env = apply_env(sqlite_env | {"INVOICE_ALERT_WEBHOOK_URL": f"http://127.0.0.1:{port}/hook"})
    (tmp_path / "dagster").mkdir()
    with dg.DagsterInstance.local_temp(str(tmp_path / "dagster")) as instance:
        stuck = make_stuck_run(instance, minutes=30)

        def tick(cursor: str | None) -> str | None:
            with dg.build_sensor_context(
                instance=instance, cursor=cursor, resources=build_resources(env)
            ) as context:
                stuck_sensor(context)
                return context.cursor

        cursor = tick(None)

        store = store_for(env)
        (alert,) = store.alerts()
        assert alert["code"] == "STUCK_RUN"
        assert alert["context"]["runs"][0]["run_id"] == stuck
        assert alert["delivered"] is False
        assert alert["delivery_attempts"] == 1
        assert "ConnectError" in alert["last_error"]

        with _ReceiverOn(port) as receiver:
            tick(cursor)

        (alert,) = store.alerts()  # the cursor kept the sensor from raising it again
        assert alert["delivered"] is True
        assert alert["delivery_attempts"] == 2
        (payload,) = receiver.received
        assert payload["text"].startswith("[CRITICAL] STUCK_RUN:")
