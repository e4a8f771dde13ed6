"""The store's last-write marker: a counter every committed write to the store bumps.

Caches of what is computed from the store (the ops API's run summaries) key their entries by it:
an entry is good while the counter has not moved. It lives in the database (row ``last_write``
of ``store_meta``), so every process writing to the store, and every process reading it, agree
on it, on SQLite and on PostgreSQL alike.

How every write bumps it without each writer remembering to: ``install`` listens to the store
engine's SQL. A transaction that ran an ``INSERT``, ``UPDATE`` or ``DELETE`` (or wrote through
the DB-API directly and said so with ``mark_written``: the bulk loaders) increments the counter
in the same transaction, as its last statement before ``COMMIT``. So the new value becomes
visible exactly with the data (never before it), and the row lock PostgreSQL takes for it is
held only from that statement to the commit (writers do not queue on it for the length of
their transaction). A rolled-back transaction bumps nothing.

A reader reads the marker *before* the data it caches: a write committed after that read moves
the counter past the cached key, so a stale entry is never served after a write. A write that
changes nothing a cache holds (the request log of a successful request) can say so with
``quiet_write``; a spurious bump only costs a recomputation.

Not for: the schema version (also in ``store_meta``) or any other bookkeeping.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, event, text
from sqlalchemy.engine import Connection

KEY = "last_write"
_WROTE = "invoice_store_wrote"  # flag in the connection's info for the running transaction
_WRITES = ("INSERT", "UPDATE", "DELETE")
_BUMP = f"UPDATE store_meta SET value = CAST(CAST(value AS BIGINT) + 1 AS TEXT) WHERE key = '{KEY}'"
# Created with the schema; a store made before the marker existed gets the row on first open.
CREATE_ROW = (
    f"INSERT INTO store_meta (key, value) VALUES ('{KEY}', '0') ON CONFLICT (key) DO NOTHING"
)


def mark_written(conn: Connection) -> None:
    """This transaction wrote rows the SQL listener cannot see (raw DB-API, COPY)."""
    conn.info[_WROTE] = True


def quiet_write(conn: Connection) -> None:
    """This transaction's writes change nothing computed from the store: no bump."""
    conn.info[_WROTE] = False


def read(conn: Connection) -> int | None:
    """The marker's value (None on a store without it: nothing may be cached)."""
    value = conn.execute(text(f"SELECT value FROM store_meta WHERE key = '{KEY}'")).scalar()
    return None if value is None else int(value)


def _note(conn: Connection, _cursor: Any, statement: str, *_: Any) -> None:
    if conn.info.get(_WROTE) is None and statement.lstrip()[:6].upper() in _WRITES:
        conn.info[_WROTE] = True


def _bump(conn: Connection) -> None:
    wrote = conn.info.pop(_WROTE, None)
    if wrote:
        # The DB-API cursor of the transaction being committed: this statement is part of it.
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(_BUMP)
        finally:
            cursor.close()


def _forget(conn: Connection) -> None:
    conn.info.pop(_WROTE, None)


def install(engine: Engine) -> None:
    """Bump the marker at the commit of every transaction that wrote (once per engine)."""
    event.listen(engine, "before_cursor_execute", _note)
    event.listen(engine, "commit", _bump)
    event.listen(engine, "rollback", _forget)
    # a connection going back to the pool carries no flag into its next transaction
    event.listen(engine.pool, "checkin", lambda _dbapi, record: record.info.pop(_WROTE, None))
