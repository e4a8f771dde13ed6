"""The store's schema upgrades: the steps that take a store from one ``SCHEMA_VERSION`` to the
next (run by ``InvoiceStore.ensure_schema``, in the migration's one transaction).

Not for: the tables as they are now (``schema.py``).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from resources.store.rekey import rekey_suppliers

# version → steps run to reach it from version - 1, in the migration's one transaction: SQL text,
# or a function of the connection (new tables exist by then: ``create_all`` runs first).
# 2: the decision time moves from every extraction row to one ``decisions`` row per day.
# 3: alerts get their identity (rule, day, tenant, subject → ``alert_key``), a fingerprint of
# what they said and a revision; incidents name their invoice (number, period, source file),
# filled for existing incidents from the invoice's latest extraction row.
_LATEST_EXTRACTION = (
    "(SELECT x.{column} FROM extractions x WHERE x.invoice_key = incidents.invoice_key"
    " ORDER BY x.day DESC LIMIT 1)"
)
# 4: canonical supplier ids (SPEC §4.1): extractions and incidents carry ``supplier_id``
# (extractions also the record's ``supplier_tax_id``), and existing rows are re-keyed, two
# incidents of one invoice merged (``resources/store/rekey.py``).
MIGRATIONS: dict[int, list[str | Callable[[Connection], None]]] = {
    2: [
        "INSERT INTO decisions (day, decided_at) SELECT day, MAX(decided_at) FROM extractions"
        " WHERE decided_at IS NOT NULL GROUP BY day",
        "ALTER TABLE extractions DROP COLUMN pipeline_total_ms",
        "ALTER TABLE extractions DROP COLUMN decided_at",
    ],
    3: [
        "ALTER TABLE alerts ADD COLUMN alert_key VARCHAR(64)",
        "ALTER TABLE alerts ADD COLUMN day VARCHAR(10)",
        "ALTER TABLE alerts ADD COLUMN tenant TEXT",
        "ALTER TABLE alerts ADD COLUMN fingerprint VARCHAR(64)",
        "ALTER TABLE alerts ADD COLUMN revision INTEGER",
        "ALTER TABLE alerts ADD COLUMN updated_at TIMESTAMP WITH TIME ZONE",
        "UPDATE alerts SET alert_key = 'legacy-' || CAST(alert_id AS VARCHAR(20)), day = '',"
        " tenant = 'default', revision = 1, updated_at = created_at",
        "CREATE UNIQUE INDEX ix_alerts_alert_key ON alerts (alert_key)",
        "ALTER TABLE incidents ADD COLUMN invoice_no TEXT",
        "ALTER TABLE incidents ADD COLUMN invoice_period TEXT",
        "ALTER TABLE incidents ADD COLUMN source_file TEXT",
        *(
            f"UPDATE incidents SET {c} = {_LATEST_EXTRACTION.format(column=c)}"
            for c in ("invoice_no", "invoice_period", "source_file")
        ),
    ],
    4: [
        lambda conn: add_column(conn, "extractions", "supplier_id", "TEXT"),
        lambda conn: add_column(conn, "extractions", "supplier_tax_id", "TEXT"),
        lambda conn: add_column(conn, "incidents", "supplier_id", "TEXT"),
        lambda conn: _rekey_suppliers(conn),
    ],
}


def add_column(conn: Connection, table: str, column: str, kind: str) -> None:
    """``ALTER TABLE … ADD COLUMN`` unless the column is there already (SQLite has no
    ``IF NOT EXISTS`` for columns)."""
    if column not in {c["name"] for c in inspect(conn).get_columns(table)}:
        conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {column} {kind}"))


def _rekey_suppliers(conn: Connection) -> None:
    rekey_suppliers(conn)
