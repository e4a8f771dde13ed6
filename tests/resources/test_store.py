"""The store on SQLite and on PostgreSQL (the same bodies through the ``env`` fixture)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import bindparam, inspect, select, text, update

from invoice_assets.domain.feedback import validate_feedback
from invoice_assets.kernel.clock import SYSTEM_CLOCK
from resources.store import InboxEntry, InvoiceStore
from resources.store import cells as store_io
from resources.store import incidents as store_incidents
from resources.store import resource as store_module
from resources.store import schema as s
from resources.store.cells import as_utc as _as_utc
from resources.store.schema import SCHEMA_VERSION
from tests.assets.helpers import store_for
from tests.incident_rows import open_incident
from tests.resources.test_store_migrations import downgrade_to_version_2

utcnow = SYSTEM_CLOCK.now  # the moment these tests stamp their writes with


def _store(env: dict[str, str]) -> InvoiceStore:
    store = store_for(env)
    assert store.ensure_schema() == SCHEMA_VERSION
    return store


def _lines(day: str, n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "day": day,
            "invoice_key": [f"K{i:07d}" for i in range(n)],
            "line": 0,
            "label": "Aktif enerji",
            "qty": np.arange(n, dtype="float64"),
            "unit": None,
            "unit_price": 3.5,
            "amount_tl": np.nan,
            "confidence": 0.9,
        }
    )


def test_the_schema_is_created_once_and_versioned(env) -> None:
    store = _store(env)
    store_module._SCHEMA_READY.discard(store.url)  # a second process finds the tables there
    assert store.ensure_schema() == SCHEMA_VERSION
    assert store.count_rows("incidents") == 0


def test_replacing_a_partition_is_idempotent_across_insert_chunks(env) -> None:
    store = _store(env)
    n = store_io.INSERT_CHUNK_ROWS * 2 + 7
    frame = _lines("2025-01-02", n)

    for _ in range(2):
        store.replace_partitions({"line_items": frame}, ["2025-01-02"])

    back = store.read_stage("line_items", ["2025-01-02"]).sort_values("invoice_key")
    assert len(back) == n
    assert back["qty"].to_numpy().tolist() == list(range(n))
    assert back["amount_tl"].isna().all()
    assert back["unit"].isna().all()


def test_a_partition_write_leaves_other_days_alone(env) -> None:
    store = _store(env)
    store.replace_partitions({"line_items": _lines("2025-01-02", 5)}, ["2025-01-02"])
    store.replace_partitions({"line_items": _lines("2025-01-03", 3)}, ["2025-01-03"])
    store.replace_partitions({"line_items": _lines("2025-01-03", 0)}, ["2025-01-03"])

    assert len(store.read_stage("line_items", ["2025-01-02"])) == 5
    assert len(store.read_stage("line_items", ["2025-01-03"])) == 0


def test_incident_upserts_keep_operator_fields(env) -> None:
    store = _store(env)
    incident = open_incident("a" * 64, "2025-01-02", "K1", mismatch_info={"delta": 8000.0})
    empty = pd.DataFrame(columns=["dedupe_key"])
    store.write_incidents(pd.DataFrame([incident]), empty, "default", utcnow(), max_recompute=5)
    (row,) = store.list_incidents()
    store.set_incident_status(row["incident_id"], "RESOLVED", "manual_resolved", utcnow())
    feedback = validate_feedback({"action_taken": "VERIFIED_LOGIC", "was_hint_correct": True})
    store.put_feedback(row["incident_id"], feedback, "alice", utcnow())

    again = incident | {"status": "RESOLVED", "resolution_reason": "manual_resolved"}
    counts = store.write_incidents(
        pd.DataFrame([again | {"occurrence_count": 2}]), empty, "default", utcnow(), max_recompute=5
    )

    assert counts == {"inserted": 0, "updated": 1, "resolved": 0}
    (kept,) = store.list_incidents()
    assert kept["incident_id"] == row["incident_id"]
    assert kept["occurrence_count"] == 2
    assert kept["feedback_by"] == "alice"
    assert kept["feedback_json"]["action_taken"] == "VERIFIED_LOGIC"
    assert kept["mismatch_info"] == {"delta": 8000.0}


def test_the_queue_reports_depth_and_progress(env) -> None:
    store = _store(env)
    entries = [InboxEntry(f"{i}.json", f"/in/{i}.json", str(i) * 64, 10) for i in range(3)]
    assert store.register_inbox("2025-01-02", entries) == 3
    assert store.register_inbox("2025-01-02", entries) == 0  # unchanged files are not new

    assert store.queue_state(10)["current_depth"] == 3
    store.set_inbox_status("2025-01-02", ["0.json", "1.json"], "done", attempt=True)
    state = store.queue_state(10)

    assert state["current_depth"] == 1
    assert state["max_depth_in_period"] == 3
    assert state["stuck_detected"] is False
    files = store.inbox_files(["2025-01-02"]).set_index("file_name")
    assert files.loc["0.json", "attempts"] == 1
    assert files.loc["2.json", "status"] == "received"


# -- the write path: column-wise conversion, bulk inserts, set-based updates ----------------------

DAY = "2025-01-02"
T0 = datetime(2025, 1, 2, 9, 30, 15, 123456, tzinfo=UTC)


def _old_py_rows(frame: pd.DataFrame, columns: list[str]) -> list[dict[str, object]]:
    """The per-cell conversion the bulk insert used before it went column-wise."""
    n = len(frame)
    data = {
        c: frame[c].to_numpy(dtype=object) if c in frame else np.full(n, None, dtype=object)
        for c in columns
    }
    return [{c: store_io.py_value(data[c][i]) for c in columns} for i in range(n)]


def _mixed_frame() -> pd.DataFrame:
    """Every kind of cell a stage frame carries: NaN, NaT, None, pd.NA, numpy scalars, bools,
    nullable integers, float-typed integers, tz-aware timestamps, containers."""
    return pd.DataFrame(
        {
            "day": DAY,
            "invoice_key": ["K0", "K1", "K2", "K3"],
            "consumption_kwh": [1.5, np.nan, 0.0, -2.25],
            "line_no": pd.array([3, None, 0, 7], dtype="Int64"),
            "http_status": [200.0, np.nan, 429.0, 200.0],
            "extraction_ms": np.array([1, 2, 3, 4], dtype="int32"),
            "started_at": pd.to_datetime(
                [T0, None, T0 + timedelta(microseconds=1), T0 - timedelta(days=40)], utc=True
            ),
            "supplier": pd.array(["Enerjisa", None, "Uludağ ş", ""], dtype="str"),
            "status": ["\\N", None, pd.NA, np.nan],  # a text "\\N" is not COPY's NULL
            "evidence_json": [{"a": [1, 2]}, None, ["x", "ü"], np.int64(5)],
            "tariff_group": np.array([np.float64(2.5), None, np.int64(7), "mesken"], object),
        }
    )


def test_the_column_wise_conversion_gives_what_the_per_cell_one_gave() -> None:
    frame = _mixed_frame()
    columns = [*frame.columns, "not_in_frame"]

    new = store_io.records(frame, columns)

    old = _old_py_rows(frame, columns)
    assert new == old
    for new_row, old_row in zip(new, old, strict=True):  # same Python types, not just equal
        assert {c: type(v) for c, v in new_row.items()} == {c: type(v) for c, v in old_row.items()}
    chunks = list(store_io.row_chunks(frame, columns, size=3))
    assert [len(c) for c in chunks] == [3, 1]
    assert [dict(zip(columns, r, strict=True)) for c in chunks for r in c] == old


def _stored(store: InvoiceStore, table_name: str, columns: list[str]) -> dict[str, tuple]:
    table = s.STAGE_TABLES[table_name]
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(table.c.invoice_key, *[table.c[c] for c in columns]).where(table.c.day == DAY)
        ).fetchall()
    return {r[0]: tuple(r[1:]) for r in rows}


def test_bulk_inserts_round_trip_nulls_bools_timestamps_and_numbers(env) -> None:
    store = _store(env)
    frame = _mixed_frame()
    validations = pd.DataFrame(
        {
            "day": DAY,
            "invoice_key": ["K0", "K1", "K2"],
            "has_mismatch": [True, False, True],
            "hard_stop": np.array([np.True_, None, False], dtype=object),
            "mismatch_ratio": [np.nan, 0.1, 1e-12],
            "error_count": pd.array([0, None, 12], dtype="Int64"),
            "errors_json": ["[]", None, '[{"code": "x"}]'],
        }
    )

    store.replace_partitions({"extractions": frame, "validations": validations}, [DAY])

    x = _stored(
        store,
        "extractions",
        [
            "consumption_kwh",
            "line_no",
            "http_status",
            "extraction_ms",
            "started_at",
            "supplier",
            "status",
            "evidence_json",
            "tariff_group",
        ],
    )
    started = {k: _as_utc(v[4]) for k, v in x.items()}
    assert started == {
        "K0": T0,
        "K1": None,
        "K2": T0 + timedelta(microseconds=1),
        "K3": T0 - timedelta(days=40),
    }
    assert {k: v[:4] for k, v in x.items()} == {
        "K0": (1.5, 3, 200, 1.0),
        "K1": (None, None, None, 2.0),
        "K2": (0.0, 0, 429, 3.0),
        "K3": (-2.25, 7, 200, 4.0),
    }
    assert {k: v[5:] for k, v in x.items()} == {
        "K0": ("Enerjisa", "\\N", '{"a": [1, 2]}', "2.5"),
        "K1": (None, None, None, None),
        "K2": ("Uludağ ş", None, '["x", "ü"]', "7"),
        "K3": ("", None, "5", "mesken"),
    }
    v = _stored(
        store, "validations", ["has_mismatch", "hard_stop", "mismatch_ratio", "error_count"]
    )
    assert v == {
        "K0": (True, True, None, 0),
        "K1": (False, None, 0.1, None),
        "K2": (True, False, 1e-12, 12),
    }
    back = store.read_stage("validations", [DAY]).set_index("invoice_key")
    assert back["has_mismatch"].dtype == bool
    assert back["errors_json"].to_dict() == {"K0": "[]", "K1": None, "K2": '[{"code": "x"}]'}


def _started(day: str) -> pd.DataFrame:
    """Extractions whose started_at covers the edges: null, sub-millisecond, after ``at``,
    microsecond .999999, days and a leap second's neighbourhood before."""
    starts = [
        T0,
        None,
        T0 + timedelta(microseconds=1),
        T0 - timedelta(microseconds=999_999),
        T0 - timedelta(seconds=1, microseconds=7),
        T0 - timedelta(days=3, hours=5, microseconds=123_457),
        T0 - timedelta(minutes=2, microseconds=500),
        datetime(2024, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
    ]
    return pd.DataFrame(
        {
            "day": day,
            "invoice_key": [f"K{i}" for i in range(len(starts))],
            "started_at": pd.to_datetime(starts, utc=True),
        }
    )


def _latencies(store: InvoiceStore, day: str) -> dict[str, float]:
    facts = store.invoice_facts(day, day, ["invoice_key", "pipeline_total_ms"])
    return dict(zip(facts["invoice_key"], facts["pipeline_total_ms"], strict=True))


def test_mark_decided_gives_the_same_latency_as_the_per_invoice_computation(env) -> None:
    store = _store(env)
    frame = _started(DAY)
    store.replace_partitions({"extractions": frame}, [DAY])
    store.replace_partitions({"extractions": _started("2025-01-03")}, ["2025-01-03"])
    at = T0 + timedelta(seconds=2, microseconds=654_321)

    store.mark_decided([DAY], at)

    got = _latencies(store, DAY)
    for key, started in zip(frame["invoice_key"], frame["started_at"], strict=True):
        if pd.isna(started):
            assert np.isnan(got[key])
            continue
        # what mark_decided computed in Python, one invoice at a time, before it went set-based
        want = max(0.0, (at - started.to_pydatetime()).total_seconds() * 1000.0)
        assert got[key] == pytest.approx(want, abs=1e-6), key
    assert got["K2"] > 0.0  # started 1 µs after T0, 2.65 s before ``at``
    assert all(np.isnan(v) for v in _latencies(store, "2025-01-03").values())  # not decided

    later = at + timedelta(hours=1)  # a rerun restamps the day
    store.mark_decided([DAY, "2025-01-03"], later)
    again = _latencies(store, "2025-01-03")
    assert again["K0"] == pytest.approx((later - T0).total_seconds() * 1000.0, abs=1e-6)
    with store.engine.connect() as conn:  # one row per day, not one per invoice
        decided = dict(conn.execute(select(s.decisions.c.day, s.decisions.c.decided_at)).all())
    assert {day: _as_utc(v) for day, v in decided.items()} == {DAY: later, "2025-01-03": later}
    store.mark_decided([], later)  # no days: nothing to do


def test_mark_decided_clamps_a_start_after_the_decision_to_zero(env) -> None:
    store = _store(env)
    frame = pd.DataFrame(
        {"day": DAY, "invoice_key": ["K0"], "started_at": pd.to_datetime([T0], utc=True)}
    )
    store.replace_partitions({"extractions": frame}, [DAY])

    store.mark_decided([DAY], T0 - timedelta(milliseconds=5))

    assert _latencies(store, DAY) == {"K0": 0.0}


def test_extracting_a_day_again_forgets_its_decision(env) -> None:
    store = _store(env)
    store.replace_partitions({"extractions": _started(DAY)}, [DAY])
    store.mark_decided([DAY], T0 + timedelta(seconds=3))
    assert not np.isnan(_latencies(store, DAY)["K0"])

    store.replace_extractions(["extractions"], [DAY], iter([{"extractions": _started(DAY)}]))

    assert all(np.isnan(v) for v in _latencies(store, DAY).values())  # until decided again


def test_a_version_1_store_moves_its_decision_times_to_one_row_per_day(env) -> None:
    store = _store(env)
    store.replace_partitions({"extractions": _started(DAY)}, [DAY])
    store.replace_partitions({"extractions": _started("2025-01-03")}, ["2025-01-03"])
    at = T0 + timedelta(seconds=2, microseconds=654_321)
    ts = "TIMESTAMP WITH TIME ZONE" if store.backend == "postgresql" else "DATETIME"
    with store.engine.begin() as conn:  # the version 1 layout: the decision on every row
        downgrade_to_version_2(conn)
        conn.execute(text(f"ALTER TABLE extractions ADD COLUMN decided_at {ts}"))
        conn.execute(text("ALTER TABLE extractions ADD COLUMN pipeline_total_ms FLOAT"))
        conn.execute(
            text("UPDATE extractions SET decided_at = :at WHERE day = :day").bindparams(
                bindparam("at", type_=s.TS)
            ),
            {"at": at, "day": DAY},
        )
        conn.execute(text("DROP TABLE decisions"))
        meta = s.store_meta
        conn.execute(update(meta).where(meta.c.key == "schema_version").values(value="1"))
    store_module._SCHEMA_READY.discard(store.url)

    assert store.ensure_schema() == SCHEMA_VERSION == 4  # through versions 2, 3 and 4

    with store.engine.connect() as conn:
        decided = dict(conn.execute(select(s.decisions.c.day, s.decisions.c.decided_at)).all())
        left = {c["name"] for c in inspect(conn).get_columns("extractions")}
    assert {day: _as_utc(v) for day, v in decided.items()} == {DAY: at}  # undecided: no row
    assert not {"decided_at", "pipeline_total_ms"} & left
    want = max(0.0, (at - T0).total_seconds() * 1000.0)
    assert _latencies(store, DAY)["K0"] == pytest.approx(want, abs=1e-6)


def test_inbox_status_updates_group_files_by_their_values(env, monkeypatch) -> None:
    store = _store(env)
    monkeypatch.setattr(store_module, "IN_CHUNK", 2)  # several IN (…) chunks per group
    names = [*(f"{i}.jsonl" for i in range(5)), 'a, "quoted"\nname.jsonl', "\\N"]
    entries = [InboxEntry(n, f"/in/{n}", f"{i:064d}", 100 + i) for i, n in enumerate(names)]
    assert store.register_inbox(DAY, entries) == 7
    files = store.inbox_files([DAY]).set_index("file_name").loc[names]  # odd names survive
    assert files["path"].tolist() == [f"/in/{n}" for n in names]
    assert files["registered_at"].map(_as_utc).tolist() == files["updated_at"].map(_as_utc).tolist()

    store.set_inbox_status(DAY, names, "processing", attempt=True)
    items = {n: (2_000 if i < 4 else 1, 0 if i % 2 else 1) for i, n in enumerate(names)}
    store.set_inbox_status(DAY, names[:5], "done", items=items)
    store.set_inbox_status(
        DAY, names[5:], "failed", items=items, error_codes={names[5]: "malformed_json"}
    )

    files = store.inbox_files([DAY]).set_index("file_name").loc[names]
    assert files["attempts"].tolist() == [1] * 7
    assert files["status"].tolist() == ["done"] * 5 + ["failed"] * 2
    assert list(zip(files["items"], files["failed_items"], strict=True)) == [
        items[n] for n in names
    ]
    assert files["error_code"].tolist() == [None] * 5 + ["malformed_json", None]

    store.set_inbox_status(DAY, names[:3], "processing", attempt=True)  # items stay
    files = store.inbox_files([DAY]).set_index("file_name").loc[names]
    assert files["attempts"].tolist() == [2, 2, 2, 1, 1, 1, 1]
    assert files.loc[names[0], "items"] == 2_000

    changed = [*entries[:6], InboxEntry(names[6], "/in/new/6", "f" * 64, 999)]
    assert store.register_inbox(DAY, changed) == 1  # only the file whose content changed
    files = store.inbox_files([DAY]).set_index("file_name")
    assert files.loc[names[6], ["status", "sha256", "size_bytes", "path"]].tolist() == [
        "received",
        "f" * 64,
        999,
        "/in/new/6",
    ]
    assert files.loc[names[5], "status"] == "failed"


def test_vanished_incidents_are_resolved_in_one_go(env, monkeypatch) -> None:
    store = _store(env)
    monkeypatch.setattr(store_incidents, "IN_CHUNK", 2)  # where the resolve loop reads it
    now = pd.Timestamp(utcnow())
    base = {
        "day": DAY,
        "supplier": "x",
        "severity": "S2",
        "primary_flag": "INVOICE_TOTAL_MISMATCH",
        "secondary_flags": ["LOW_CONFIDENCE"],
        "action_class": "VERIFY_INVOICE_LOGIC",
        "action_hint": {"action_class": "VERIFY_INVOICE_LOGIC"},
        "mismatch_info": None,
        "ocr_suspect": np.False_,
        "error_code": None,
        "status": "OPEN",
        "resolution_reason": None,
        "resolved_at": None,
        "occurrence_count": np.int64(1),
        "recompute_count": 0,
        "recompute_limit_exceeded": True,
        "first_seen_at": now,
        "last_seen_at": now,
    }
    upserts = pd.DataFrame(
        [base | {"dedupe_key": f"{i:064d}", "invoice_key": f"K{i}"} for i in range(5)]
    )
    empty = pd.DataFrame(columns=["dedupe_key"])
    assert (
        store.write_incidents(upserts, empty, "default", utcnow(), max_recompute=5)["inserted"] == 5
    )
    resolved = pd.DataFrame(
        {
            "dedupe_key": [f"{i:064d}" for i in range(3)],
            "expected_status": "OPEN",
            "status": "RESOLVED",
            "resolution_reason": "recompute_resolved",
            "resolved_at": now,
        }
    )

    later = now + pd.Timedelta(minutes=5)
    again = upserts.iloc[3:].assign(  # every kind of column changes, some to null
        severity="S1",
        secondary_flags=[[], ["A", "ü"]],
        action_hint=None,
        mismatch_info=[{"delta": 1.5}, None],
        ocr_suspect=[True, False],
        error_code=["E1", None],
        occurrence_count=[2, 3],  # the snapshot's prediction; the store counts in SQL
        recompute_limit_exceeded=False,
        last_seen_at=later,
    )
    counts = store.write_incidents(again, resolved, "default", utcnow(), max_recompute=5)

    assert counts == {"inserted": 0, "updated": 2, "resolved": 3}
    got = {i["invoice_key"]: i for i in store.list_incidents()}
    for key in ("K0", "K1", "K2"):
        assert got[key]["status"] == "RESOLVED"
        assert got[key]["resolution_reason"] == "recompute_resolved"
        assert got[key]["resolved_at"] == now.to_pydatetime()
        assert got[key]["recompute_limit_exceeded"] is False
        assert got[key]["severity"] == "S2"
    for key, flags, info, ocr, code, count in (
        ("K3", [], {"delta": 1.5}, True, "E1", 2),
        ("K4", ["A", "ü"], None, False, None, 2),  # seen twice: 1 + 1, whatever the frame says
    ):
        row = got[key]
        assert row["status"] == "OPEN"
        assert row["severity"] == "S1"
        assert row["secondary_flags"] == flags
        assert row["action_hint"] is None
        assert row["mismatch_info"] == info
        assert row["ocr_suspect"] is ocr
        assert row["error_code"] == code
        assert row["occurrence_count"] == count
        assert row["recompute_limit_exceeded"] is False
        assert row["first_seen_at"] == now.to_pydatetime()
        assert row["last_seen_at"] == later.to_pydatetime()
        assert row["tenant"] == "default"
