"""The store on SQLite and on PostgreSQL (the same bodies through the ``env`` fixture)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from invoice_assets.domain.feedback import validate_feedback
from resources import store as store_module
from resources.store import InboxEntry, InvoiceStore, utcnow
from resources.store_schema import SCHEMA_VERSION
from tests.assets.helpers import store_for


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
    n = store_module.INSERT_CHUNK_ROWS * 2 + 7
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
    now = pd.Timestamp(utcnow())
    incident = {
        "dedupe_key": "a" * 64,
        "day": "2025-01-02",
        "invoice_key": "K1",
        "supplier": "x",
        "severity": "S2",
        "primary_flag": "INVOICE_TOTAL_MISMATCH",
        "secondary_flags": [],
        "action_class": "VERIFY_INVOICE_LOGIC",
        "action_hint": {"action_class": "VERIFY_INVOICE_LOGIC"},
        "mismatch_info": {"delta": 8000.0},
        "ocr_suspect": False,
        "error_code": None,
        "status": "OPEN",
        "resolution_reason": None,
        "resolved_at": None,
        "occurrence_count": 1,
        "recompute_count": 0,
        "recompute_limit_exceeded": False,
        "first_seen_at": now,
        "last_seen_at": now,
    }
    empty = pd.DataFrame(columns=["dedupe_key"])
    store.write_incidents(pd.DataFrame([incident]), empty, "default", utcnow())
    (row,) = store.list_incidents()
    store.set_incident_status(row["incident_id"], "RESOLVED", "manual_resolved", utcnow())
    feedback = validate_feedback({"action_taken": "VERIFIED_LOGIC", "was_hint_correct": True})
    store.put_feedback(row["incident_id"], feedback, "alice", utcnow())

    again = incident | {"status": "RESOLVED", "resolution_reason": "manual_resolved"}
    counts = store.write_incidents(
        pd.DataFrame([again | {"occurrence_count": 2}]), empty, "default", utcnow()
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
