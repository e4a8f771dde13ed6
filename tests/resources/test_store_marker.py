"""The store's last-write marker on SQLite and PostgreSQL: every committed write moves it, reads
and rolled-back writes do not, and it becomes visible only with the data it stands for."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import insert, text

from invoice_assets.domain.digest import AlertSpec
from invoice_assets.domain.feedback import validate_feedback
from invoice_assets.kernel.clock import SYSTEM_CLOCK
from resources.store import InboxEntry, InvoiceStore
from resources.store import resource as store_module
from resources.store import schema as s
from tests.assets.helpers import store_for
from tests.conftest import throwaway_database
from tests.resources.test_store import _lines

utcnow = SYSTEM_CLOCK.now  # the moment these tests stamp their writes with

DAY = "2025-01-02"


def _store(env: dict[str, str]) -> InvoiceStore:
    store = store_for(env)
    store.ensure_schema()
    return store


def _moves(store: InvoiceStore, write) -> int:
    before = store.last_write()
    assert before is not None
    write()
    after = store.last_write()
    assert after is not None
    return after - before


def test_every_kind_of_write_moves_the_marker_once(env) -> None:
    store = _store(env)
    now = utcnow()
    entry = InboxEntry("a.json", "/in/a.json", "0" * 64, 10)

    assert (
        _moves(store, lambda: store.replace_partitions({"line_items": _lines(DAY, 5)}, [DAY])) == 1
    )
    assert _moves(store, lambda: store.register_inbox(DAY, [entry])) == 1
    assert _moves(store, lambda: store.set_inbox_status(DAY, ["a.json"], "done")) == 1
    assert _moves(store, lambda: store.mark_decided([DAY], now)) == 1
    alert = AlertSpec("WARNING", "X", "m", {})
    assert _moves(store, lambda: store.record_alert(alert, "default", now)) == 1
    assert _moves(store, lambda: store.record_alert(alert, "default", now)) == 0  # unchanged
    assert _moves(store, lambda: store.log_request("GET", "/x", 404, 1.0, None, "n", now)) == 1


def test_reads_rollbacks_and_successful_requests_do_not_move_it(env) -> None:
    store = _store(env)
    store.replace_partitions({"line_items": _lines(DAY, 3)}, [DAY])

    assert _moves(store, lambda: store.read_stage("line_items", [DAY])) == 0
    assert (
        _moves(store, lambda: store.log_request("GET", "/x", 200, 1.0, None, None, utcnow())) == 0
    )

    def rolled_back() -> None:
        with pytest.raises(RuntimeError), store.engine.begin() as conn:
            conn.execute(text("DELETE FROM line_items"))
            raise RuntimeError("abort")

    assert _moves(store, rolled_back) == 0
    assert store.count_rows("line_items") == 3


def test_operator_writes_move_it(env) -> None:
    store = _store(env)
    store.replace_partitions({"line_items": _lines(DAY, 1)}, [DAY])
    now = utcnow()
    with store.engine.begin() as conn:  # one open incident to act on
        conn.execute(
            insert(s.incidents).values(
                dedupe_key="k",
                day=DAY,
                invoice_key="K00000",
                tenant="default",
                severity="S2",
                primary_flag="INVOICE_TOTAL_MISMATCH",
                secondary_flags="[]",
                status="OPEN",
                occurrence_count=1,
                recompute_count=0,
                recompute_limit_exceeded=False,
                first_seen_at=now,
                last_seen_at=now,
                created_at=now,
                updated_at=now,
            )
        )
    (incident,) = store.list_incidents(limit=1)
    number = incident["incident_id"]
    feedback = validate_feedback({"action_taken": "ESCALATED", "was_hint_correct": True})

    assert _moves(store, lambda: store.set_incident_status(number, "RESOLVED", "m", utcnow())) == 1
    assert _moves(store, lambda: store.put_feedback(number, feedback, "alice", utcnow())) == 1


def test_the_new_value_is_visible_only_with_the_commit(env) -> None:
    store = _store(env)
    before = store.last_write()
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM line_items WHERE day = :d"), {"d": DAY})
        conn.execute(
            insert(s.alerts).values(
                created_at=utcnow(), severity="INFO", code="X", message="m", context_json="{}"
            )
        )
        # another connection (as another process would) still sees the old marker
        assert store.last_write() == before
    assert store.last_write() == before + 1


def test_concurrent_writers_each_move_it(env) -> None:
    store = _store(env)
    before = store.last_write()
    assert before is not None
    errors: list[BaseException] = []

    def writer(number: int) -> None:
        try:
            for i in range(5):
                spec = AlertSpec("INFO", f"W{number}", str(i), {}, subject=str(i))
                store.record_alert(spec, "default", utcnow())
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert store.last_write() == before + 20


def test_a_store_made_before_the_marker_gets_it_on_first_open(tmp_path) -> None:
    with throwaway_database() as url:
        store = InvoiceStore(db_url=url)
        store.ensure_schema()
        with store.engine.begin() as conn:
            conn.execute(text("DELETE FROM store_meta WHERE key = 'last_write'"))
        assert store.last_write() is None  # nothing may be cached against such a store
        store_module._SCHEMA_READY.discard(store.url)  # the next process to open it
        store.ensure_schema()
        assert store.last_write() is not None
