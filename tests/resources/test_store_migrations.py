"""Existing stores migrate in place: a version-2 store (alerts without identity, incidents
without their invoice's number, period and file) becomes version 3 on both backends without
losing an alert or an incident."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from invoice_assets.domain.digest import AlertSpec
from resources.store import InvoiceStore
from resources.store import resource as store_module
from resources.store.schema import SCHEMA_VERSION
from tests.assets.helpers import store_for

T0 = datetime(2025, 1, 2, 9, 30, tzinfo=UTC)
V3_INCIDENT_COLUMNS = ("invoice_no", "invoice_period", "source_file")


def downgrade_to_version_2(conn: Connection) -> None:
    """Turn a freshly created store into the version-2 layout (alerts and incidents as they
    were before version 3)."""
    serial = "SERIAL PRIMARY KEY" if conn.dialect.name == "postgresql" else "INTEGER PRIMARY KEY"
    ts = "TIMESTAMP WITH TIME ZONE" if conn.dialect.name == "postgresql" else "DATETIME"
    conn.execute(text("DROP TABLE alerts"))
    conn.execute(
        text(
            f"CREATE TABLE alerts (alert_id {serial}, created_at {ts} NOT NULL,"
            " severity VARCHAR(16) NOT NULL, code VARCHAR(64) NOT NULL, message TEXT NOT NULL,"
            " context_json TEXT NOT NULL, delivered BOOLEAN NOT NULL,"
            " delivery_attempts INTEGER NOT NULL, last_error TEXT)"
        )
    )
    for column in V3_INCIDENT_COLUMNS:
        conn.execute(text(f"ALTER TABLE incidents DROP COLUMN {column}"))
    conn.execute(text("UPDATE store_meta SET value = '2' WHERE key = 'schema_version'"))


def _store(env: dict[str, str]) -> InvoiceStore:
    store = store_for(env)
    store.ensure_schema()
    return store


def test_a_version_2_store_keeps_its_alerts_and_names_its_incidents_invoices(env) -> None:
    store = _store(env)
    with store.engine.begin() as conn:
        downgrade_to_version_2(conn)
        conn.execute(
            text(
                "INSERT INTO alerts (created_at, severity, code, message, context_json,"
                " delivered, delivery_attempts) VALUES (:at, 'ERROR', 'RUN_FAILED', 'old', '{}',"
                " FALSE, 1), (:at, 'CRITICAL', 'S1_RATE_DRIFT', 'older', '{}', TRUE, 1)"
            ),
            {"at": T0},
        )
        conn.execute(
            text(
                "INSERT INTO extractions (day, invoice_key, source_file, line_no, status,"
                " supplier, invoice_no, invoice_period) VALUES"
                " ('2025-01-02', 'K1', 'a.json', 0, 'ok', 's', 'ABC2025000000001', '2024-12'),"
                " ('2025-01-05', 'K1', 'again.json', 0, 'ok', 's', 'ABC2025000000001', '2024-12')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO incidents (dedupe_key, day, invoice_key, tenant, supplier, severity,"
                " primary_flag, secondary_flags, status, occurrence_count, recompute_count,"
                " recompute_limit_exceeded, first_seen_at, last_seen_at, created_at, updated_at,"
                " ocr_suspect) VALUES ('d1', '2025-01-02', 'K1', 'default', 's', 'S2',"
                " 'INVOICE_TOTAL_MISMATCH', '[]', 'RESOLVED', 1, 0, FALSE, :at, :at, :at, :at,"
                " FALSE)"
            ),
            {"at": T0},
        )
    store_module._SCHEMA_READY.discard(store.url)  # another process opens the old store

    assert store.ensure_schema() == SCHEMA_VERSION == 4  # through versions 3 and 4

    alerts = {a["message"]: a for a in store.alerts()}
    assert set(alerts) == {"old", "older"}
    assert {a["revision"] for a in alerts.values()} == {1}
    assert alerts["old"]["delivered"] is False  # still retried
    assert all(a["alert_key"].startswith("legacy-") for a in alerts.values())
    (incident,) = store.list_incidents()
    assert incident["status"] == "RESOLVED"
    assert (incident["invoice_no"], incident["invoice_period"]) == ("ABC2025000000001", "2024-12")
    assert incident["source_file"] == "again.json"  # the latest extraction of the invoice
    with store.engine.connect() as conn:
        columns = {c["name"] for c in inspect(conn).get_columns("alerts")}
    assert {"alert_key", "fingerprint", "revision", "day", "tenant"} <= columns

    spec = AlertSpec("ERROR", "RUN_FAILED", "new", {}, subject="r1")
    assert store.record_alert(spec, "default", T0).outcome == "new"
    assert store.record_alert(spec, "default", T0).outcome == "unchanged"
