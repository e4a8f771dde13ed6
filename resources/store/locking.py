"""How several writers share the store's database: two days materialised at once by two processes
(per-day runs, two `invoice-ops run`), the ops API and the sensors, on SQLite and PostgreSQL.

- ``schema_lock``: creating or migrating the schema is serialised across processes (two processes
  opening a fresh store at once both tried to create every table; the second failed); a store
  whose schema is current is opened without it (``schema_is_current``).
- ``replace_staged``: SQLite has one write lock for the whole database, held from a transaction's
  first write to its commit. A stage that streamed its rows inside the transaction held it while
  it parsed a day's files (80 s for 1M invoices), so every other writer (the other day, the API,
  the sensors) waited for the parser and gave up after the busy timeout. The rows are now written
  to the connection's temporary tables first (another database file: no lock on the store), and
  the store's write lock is taken only to move them in, ``BEGIN IMMEDIATE`` … ``COMMIT``: one
  ``DELETE`` and one ``INSERT … SELECT`` per table, done by SQLite itself. The day is still
  replaced atomically, and readers see the old rows until the commit.

PostgreSQL needs neither: its writers lock rows, not tables, so two days write the same tables at
once; ``InvoiceStore`` streams into one transaction there. Not for: deciding what is written
(``resources/store/resource.py``) or turning frames into rows (``resources/store/cells.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import pandas as pd
from sqlalchemy import Column, Engine, MetaData, Table, delete, inspect, select, text
from sqlalchemy.engine import Connection

from resources.store import schema as s
from resources.store.bulk import insert_frame
from resources.store.cells import integer_columns
from resources.store.marker import KEY, quiet_write

# Any 64-bit number that nothing else in the database uses as an advisory lock key.
SCHEMA_LOCK_KEY = 0x1A7C_E5C4_E3A5_0001


def schema_is_current(engine: Engine) -> bool:
    """Whether the store already has this version's schema and its last-write marker (read
    only: opening a ready store takes no lock, so a full disk or a read-only file still opens)."""
    with engine.connect() as conn:
        if not inspect(conn).has_table(s.store_meta.name):
            return False
        meta = s.store_meta
        values: dict[str, str] = dict(conn.execute(select(meta.c.key, meta.c.value)).tuples().all())
    return values.get("schema_version") == str(s.SCHEMA_VERSION) and KEY in values


def schema_lock(conn: Connection) -> None:
    """Hold, until ``conn``'s transaction ends, the lock that serialises schema changes.

    Call first in the transaction: on SQLite it is the write lock (``BEGIN IMMEDIATE``, waiting
    up to the busy timeout), on PostgreSQL a transaction-scoped advisory lock.
    """
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK_KEY})


def _staging(conn: Connection, table: Table) -> Table:
    """An empty temporary twin of ``table`` on this connection. Its columns have no declared type,
    so SQLite keeps each value exactly as bound; the store's own column affinities apply when the
    rows are copied in, as they would on a direct insert."""
    name = f"staged_{table.name}"
    quote = conn.dialect.identifier_preparer.quote
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS temp.{quote(name)}")
    columns = ", ".join(quote(c.name) for c in table.columns)
    conn.exec_driver_sql(f"CREATE TEMP TABLE {quote(name)} ({columns})")
    return Table(name, MetaData(), *(Column(c.name, c.type) for c in table.columns))


def replace_staged(
    engine: Engine,
    names: Sequence[str],
    days: Sequence[str],
    chunks: Iterable[dict[str, pd.DataFrame]],
    before_swap: Callable[[Connection], None] | None = None,
) -> None:
    """SQLite: replace ``days`` of the named stage tables with the rows of ``chunks``, holding the
    write lock only for the swap (``before_swap``, if given, runs first inside it)."""
    with engine.connect() as conn:
        quote = conn.dialect.identifier_preparer.quote
        with conn.begin():
            staged = {name: _staging(conn, s.STAGE_TABLES[name]) for name in names}
        try:
            for writes in chunks:  # the producer runs outside any transaction
                with conn.begin():  # on the temporary database only: the store is not locked
                    for name, frame in writes.items():
                        if name not in staged:
                            raise ValueError(f"{name!r} is not among the replaced tables {names}")
                        if len(frame):
                            table = s.STAGE_TABLES[name]
                            rows = integer_columns(frame, table)
                            insert_frame(conn, staged[name], rows, [c.name for c in table.columns])
                    # Nothing a reader sees has changed: the store's last-write marker moves at
                    # the swap (and bumping it here would take the store's write lock).
                    quiet_write(conn)
            with conn.begin():
                conn.exec_driver_sql("BEGIN IMMEDIATE")
                if before_swap is not None:
                    before_swap(conn)
                for name in names:
                    table = s.STAGE_TABLES[name]
                    columns = ", ".join(quote(c.name) for c in table.columns)
                    conn.execute(delete(table).where(table.c.day.in_(list(days))))
                    conn.exec_driver_sql(
                        f"INSERT INTO main.{quote(table.name)} ({columns})"
                        f" SELECT {columns} FROM temp.{quote(staged[name].name)}"
                    )
        finally:
            with conn.begin():
                for table in staged.values():
                    conn.exec_driver_sql(f"DROP TABLE IF EXISTS temp.{quote(table.name)}")
