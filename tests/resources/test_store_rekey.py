"""Schema 4 (``resources/store/rekey.py``): a version-3 store, whose invoice keys hold the printed
supplier name, migrates on both backends to canonical supplier ids without duplicating or losing
an incident, its operator work or a stage row (issue 17)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import inspect, select, text
from sqlalchemy.engine import Connection

from invoice_assets.domain.incidents import dedupe_key
from resources.store import InvoiceStore
from resources.store import resource as store_module
from resources.store import schema as s
from resources.store.schema import SCHEMA_VERSION
from tests.assets.helpers import store_for

T0 = datetime(2025, 2, 3, 9, 0, tzinfo=UTC)
D1, D2, D3 = "2025-02-03", "2025-02-04", "2025-02-05"
V4_COLUMNS = (("extractions", "supplier_id"), ("extractions", "supplier_tax_id"))
STAGE = ("extractions", "line_items", "validations", "offers", "quality_scores", "flags")


def downgrade_to_version_3(conn: Connection) -> None:
    """A freshly created store in the version-3 layout (no supplier ids, no merge record)."""
    for table, column in (*V4_COLUMNS, ("incidents", "supplier_id")):
        conn.execute(text(f"ALTER TABLE {table} DROP COLUMN {column}"))
    conn.execute(text("DROP TABLE incident_merges"))
    conn.execute(text("UPDATE store_meta SET value = '3' WHERE key = 'schema_version'"))


def _invoice(conn: Connection, day: str, key: str, supplier: str, file: str, **meta: Any) -> None:
    """One ok invoice with a row in every stage table, as version 3 wrote it."""
    row = {"day": day, "k": key, "supplier": supplier, "file": file}
    conn.execute(
        text(
            "INSERT INTO extractions (day, invoice_key, source_file, line_no, status, supplier,"
            " invoice_no, invoice_period, ettn) VALUES (:day, :k, :file, 0, 'ok', :supplier,"
            " :no, '2025-01', :ettn)"
        ),
        row | {"no": meta.get("no", "INV-1"), "ettn": meta.get("ettn")},
    )
    for sql in (
        "INSERT INTO line_items (day, invoice_key, line, label) VALUES (:day, :k, 0, 'Enerji')",
        "INSERT INTO validations (day, invoice_key, has_mismatch) VALUES (:day, :k, TRUE)",
        "INSERT INTO offers (day, invoice_key, offer_status) VALUES (:day, :k, 'priced')",
        "INSERT INTO quality_scores (day, invoice_key, quality_score) VALUES (:day, :k, 75)",
        "INSERT INTO flags (day, invoice_key, flag, severity, deduction, priority)"
        " VALUES (:day, :k, 'INVOICE_TOTAL_MISMATCH', 'S2', 25, 35)",
    ):
        conn.execute(text(sql), row)


def _incident(conn: Connection, day: str, key: str, supplier: str, **state: Any) -> str:
    """A version-3 incident (primary flag INVOICE_TOTAL_MISMATCH); returns its dedupe key."""
    dk = dedupe_key("default", key, "INVOICE_TOTAL_MISMATCH")
    seen = T0 + timedelta(days=state.pop("offset", 0))
    values = {
        "dk": dk,
        "day": day,
        "k": key,
        "supplier": supplier,
        "at": seen,
        "status": "OPEN",
        "reason": None,
        "resolved_at": None,
        "feedback": None,
        "feedback_at": None,
        "correct": None,
        "occurrences": 1,
    } | state
    conn.execute(
        text(
            "INSERT INTO incidents (dedupe_key, day, invoice_key, tenant, supplier, invoice_no,"
            " invoice_period, severity, primary_flag, secondary_flags, status, resolution_reason,"
            " resolved_at, occurrence_count, recompute_count, recompute_limit_exceeded,"
            " first_seen_at, last_seen_at, created_at, updated_at, ocr_suspect, feedback_json,"
            " was_hint_correct, feedback_by, feedback_at) VALUES (:dk, :day, :k, 'default',"
            " :supplier, 'INV-1', '2025-01', 'S2', 'INVOICE_TOTAL_MISMATCH', '[]', :status,"
            " :reason, :resolved_at, :occurrences, 0, FALSE, :at, :at, :at, :at, FALSE,"
            " :feedback, :correct, 'ayse', :feedback_at)"
        ),
        values,
    )
    return dk


@pytest.fixture
def old_store(env: dict[str, str]) -> InvoiceStore:
    """A version-3 store: one invoice printed "CK Bogazici" on D1 and "ck bogazici" on D2 (two
    incidents, the second resolved with feedback), the same invoice printed two ways within D3,
    an ETTN-keyed invoice of a known supplier and an unknown supplier's invoice."""
    store = store_for(env)
    store.ensure_schema()
    with store.engine.begin() as conn:
        downgrade_to_version_3(conn)
        _invoice(conn, D1, "CK Bogazici|INV-1|2025-01", "CK Bogazici", "a.json")
        _invoice(conn, D2, "ck bogazici|INV-1|2025-01", "ck bogazici", "b.json")
        _invoice(conn, D3, "CK BOGAZICI|INV-2|2025-01", "CK BOGAZICI", "b.json", no="INV-2")
        _invoice(conn, D3, "CK Bogazici|INV-2|2025-01", "CK Bogazici", "a.json", no="INV-2")
        long_name = "Gediz Elektrik Perakende Satış A.Ş."
        _invoice(conn, D3, "ETTN-9", long_name, "c.json", ettn="ETTN-9")
        _invoice(conn, D3, "Acme Enerji A.Ş.|INV-3|2025-01", "Acme Enerji A.Ş.", "d.json")
        _incident(conn, D1, "CK Bogazici|INV-1|2025-01", "CK Bogazici", occurrences=2)
        feedback = json.dumps({"action_taken": "VERIFIED_LOGIC", "was_hint_correct": True})
        _incident(
            conn,
            D2,
            "ck bogazici|INV-1|2025-01",
            "ck bogazici",
            offset=1,
            status="RESOLVED",
            reason="manual_resolved",
            resolved_at=T0 + timedelta(days=1, hours=2),
            feedback=feedback,
            feedback_at=T0 + timedelta(days=1, hours=3),
            correct=True,
        )
        _incident(conn, D3, "CK BOGAZICI|INV-2|2025-01", "CK BOGAZICI", status="ACK", offset=2)
        _incident(conn, D3, "CK Bogazici|INV-2|2025-01", "CK Bogazici", offset=2)
        _incident(conn, D3, "ETTN-9", long_name, offset=2)
        # An incident already holding the canonical key, and one that will take it; and an
        # incident whose extraction rows are gone.
        _incident(conn, D2, "ck-bogazici|INV-4|2025-01", "ck-bogazici", status="ACK", offset=1)
        _incident(
            conn,
            D1,
            "CK Bogazici|INV-4|2025-01",
            "CK Bogazici",
            feedback=feedback,
            feedback_at=T0,
            status="RESOLVED",
            reason="manual_resolved",
            resolved_at=T0,
        )
        _incident(conn, D1, "Gediz Elektrik|INV-7|2025-01", "Gediz Elektrik")
    store_module._SCHEMA_READY.discard(store.url)  # another process opens the old store
    return store


def _incidents(store: InvoiceStore) -> dict[str, dict[str, Any]]:
    return {i["invoice_key"]: i for i in store.list_incidents(limit=100)}


def _keys(store: InvoiceStore, table: str, day: str) -> set[str]:
    t = s.metadata.tables[table]
    with store.engine.connect() as conn:
        return set(conn.execute(select(t.c.invoice_key).where(t.c.day == day)).scalars())


def test_two_incidents_of_one_invoice_become_one_keeping_the_operators_work(old_store) -> None:
    assert old_store.ensure_schema() == SCHEMA_VERSION == 4

    incidents = _incidents(old_store)
    assert set(incidents) == {
        "ck-bogazici|INV-1|2025-01",
        "ck-bogazici|INV-2|2025-01",
        "ck-bogazici|INV-4|2025-01",
        "gediz|INV-7|2025-01",
        "ETTN-9",
    }
    merged = incidents["ck-bogazici|INV-1|2025-01"]
    # The survivor is the one with feedback; it stays on the invoice's first day.
    assert (merged["status"], merged["resolution_reason"]) == ("RESOLVED", "manual_resolved")
    assert merged["feedback_json"]["action_taken"] == "VERIFIED_LOGIC"
    assert merged["was_hint_correct"] is True and merged["feedback_by"] == "ayse"
    assert merged["day"] == D1
    assert merged["first_seen_at"] == T0
    assert merged["last_seen_at"] == T0 + timedelta(days=1)
    assert merged["occurrence_count"] == 3
    assert merged["dedupe_key"] == dedupe_key(
        "default", "ck-bogazici|INV-1|2025-01", "INVOICE_TOTAL_MISMATCH"
    )
    assert (merged["supplier"], merged["supplier_id"]) == ("CK Boğaziçi", "ck-bogazici")
    # Without feedback, an acknowledgement is the operator work that wins.
    assert incidents["ck-bogazici|INV-2|2025-01"]["status"] == "ACK"
    # The incident with feedback takes the key another one already held.
    taken = incidents["ck-bogazici|INV-4|2025-01"]
    assert (taken["status"], taken["day"]) == ("RESOLVED", D1)
    assert taken["feedback_json"]["action_taken"] == "VERIFIED_LOGIC"
    assert taken["dedupe_key"] == dedupe_key(
        "default", "ck-bogazici|INV-4|2025-01", "INVOICE_TOTAL_MISMATCH"
    )
    orphan = incidents["gediz|INV-7|2025-01"]  # re-keyed from its own name
    assert (orphan["supplier"], orphan["supplier_id"]) == ("Gediz", "gediz")


def test_every_merged_incident_is_kept_as_it_was(old_store) -> None:
    old_store.ensure_schema()
    with old_store.engine.connect() as conn:
        rows = conn.execute(select(s.incident_merges)).mappings().all()
    merged = {json.loads(r["incident_json"])["invoice_key"]: r for r in rows}
    assert set(merged) == {
        "CK Bogazici|INV-1|2025-01",
        "CK Bogazici|INV-2|2025-01",
        "ck-bogazici|INV-4|2025-01",
    }
    first = json.loads(merged["CK Bogazici|INV-1|2025-01"]["incident_json"])
    assert (first["status"], first["occurrence_count"], first["day"]) == ("OPEN", 2, D1)
    survivors = {i["incident_id"] for i in old_store.list_incidents()}
    assert {r["survivor_id"] for r in rows} <= survivors


def test_stage_rows_take_the_new_key_in_every_table_and_none_is_lost(old_store) -> None:
    old_store.ensure_schema()

    for table in STAGE:
        assert _keys(old_store, table, D1) == {"ck-bogazici|INV-1|2025-01"}, table
        assert _keys(old_store, table, D2) == {"ck-bogazici|INV-1|2025-01"}, table
        # Two rows of one day that are now one invoice: the first file's row takes the key,
        # the other keeps its own (becomes duplicate_invoice when the day is extracted again).
        assert _keys(old_store, table, D3) == {
            "ck-bogazici|INV-2|2025-01",
            "CK BOGAZICI|INV-2|2025-01",
            "ETTN-9",
            "acme-enerji|INV-3|2025-01",
        }, table
    rows = old_store.read_stage("extractions", [D3]).set_index("invoice_key")
    assert rows.loc["ck-bogazici|INV-2|2025-01", "source_file"] == "a.json"
    assert rows.loc["ETTN-9", ["supplier", "supplier_id"]].tolist() == ["Gediz", "gediz"]
    assert rows.loc["acme-enerji|INV-3|2025-01", ["supplier", "supplier_id"]].tolist() == [
        "Acme Enerji A.Ş.",
        "acme-enerji",
    ]


def test_the_migrated_store_finds_the_incident_by_the_new_key_and_migrates_once(old_store) -> None:
    old_store.ensure_schema()
    state = old_store.incident_state([D2], "default")
    assert state["invoice_key"].tolist() == ["ck-bogazici|INV-1|2025-01"]
    assert state["day"].tolist() == [D1]

    store_module._SCHEMA_READY.discard(old_store.url)
    before = _incidents(old_store)
    assert old_store.ensure_schema() == 4  # a second process: nothing left to migrate
    assert _incidents(old_store) == before
    with old_store.engine.connect() as conn:
        columns = {c["name"] for c in inspect(conn).get_columns("extractions")}
    assert {"supplier_id", "supplier_tax_id"} <= columns
