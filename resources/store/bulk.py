"""Writing frames into the store's tables fast: binary COPY on PostgreSQL, ``executemany`` on
SQLite, inside the caller's transaction, and marking the store written.

Not for: converting cells (``cells.py``), encoding COPY (``pg_copy.py``) or deciding what is
written (``resource.py`` and the mixins).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd
from sqlalchemy import bindparam, update
from sqlalchemy.engine import Connection

from resources.store.cells import row_chunks
from resources.store.marker import mark_written
from resources.store.pg_copy import copy_frame


def insert_frame(conn: Connection, table: Any, frame: pd.DataFrame, columns: list[str]) -> None:
    """Insert the frame's rows into ``columns`` of ``table`` inside ``conn``'s transaction.

    Rows are converted column by column and handed to the driver as tuples, in chunks so that
    the Python values of a large partition never all live at once (1M invoices as one list of
    dicts needed ~18 GiB); the transaction is still one. PostgreSQL loads them through COPY;
    SQLite through the DB-API ``executemany`` on the transaction's own connection, with
    SQLAlchemy's bind processors (its DATETIME text format) applied column-wise where needed.
    """
    mark_written(conn)  # the rows go through the DB-API directly, unseen by the SQL listener
    if conn.dialect.name == "postgresql":
        quote = conn.dialect.identifier_preparer.quote
        raw = conn.connection.dbapi_connection
        copy_frame(raw, quote(table.name), [table.c[c] for c in columns], frame)
        return
    dialect = conn.dialect
    processors = [_sqlite_processor(table.c[c], frame, dialect) for c in columns]
    quote = dialect.identifier_preparer.quote
    statement = (
        f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)}) "
        f"VALUES ({', '.join('?' for _ in columns)})"
    )
    raw = conn.connection.driver_connection
    assert raw is not None
    cursor = raw.cursor()
    try:
        for rows in row_chunks(frame, columns, processors=processors):
            cursor.executemany(statement, rows)
    finally:
        cursor.close()


def update_by_key(
    conn: Connection,
    table: Any,
    key: str,
    frame: pd.DataFrame,
    columns: list[str],
    computed: Mapping[str, Any] | None = None,
) -> None:
    """Set ``columns`` of the rows of ``table`` whose ``key`` is in the frame, from the frame,
    and the ``computed`` columns to SQL expressions over the row's current values (counters
    incremented in the database, not read and written back).

    PostgreSQL: COPY into a temporary table and one ``UPDATE … FROM`` (an executemany UPDATE
    is one round trip per row there); SQLite: one executemany.
    """
    mark_written(conn)
    computed = dict(computed or {})
    if conn.dialect.name == "postgresql":
        quote = conn.dialect.identifier_preparer.quote
        name, temp, cols = quote(table.name), f"{table.name}_updates", [key, *columns]
        conn.exec_driver_sql(
            f"CREATE TEMPORARY TABLE {temp} ON COMMIT DROP AS"
            f" SELECT {', '.join(quote(c) for c in cols)} FROM {name} WITH NO DATA"
        )
        copy_frame(conn.connection.dbapi_connection, temp, [table.c[c] for c in cols], frame)
        sets = [f"{quote(c)} = u.{quote(c)}" for c in columns]
        sets += [
            f"{quote(c)} = "
            + str(expr.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
            for c, expr in computed.items()
        ]
        conn.exec_driver_sql(
            f"UPDATE {name} SET {', '.join(sets)}"
            f" FROM {temp} AS u WHERE {name}.{quote(key)} = u.{quote(key)}"
        )
        conn.exec_driver_sql(f"DROP TABLE {temp}")
        return
    params = [
        {"b_key": row[0], **dict(zip(columns, row[1:], strict=True))}
        for chunk in row_chunks(frame, [key, *columns])
        for row in chunk
    ]
    conn.execute(
        update(table)
        .where(table.c[key] == bindparam("b_key"))
        .values({c: bindparam(c) for c in columns} | computed),
        params,
    )


def _sqlite_processor(
    column: Any, frame: pd.DataFrame, dialect: Any
) -> Callable[[Any], Any] | None:
    """SQLAlchemy's bind processor of a column on SQLite, or None where the values the frame
    gives are already what it would pass on (floats to a Float column, bools to a Boolean)."""
    from sqlalchemy import Boolean, Float

    process = column.type.dialect_impl(dialect).bind_processor(dialect)
    if process is None or column.name not in frame:
        return None
    kind = frame[column.name].dtype.kind
    if isinstance(column.type, Float) and kind in "biuf":
        return None
    if isinstance(column.type, Boolean) and kind == "b":
        return None
    return process  # type: ignore[no-any-return]
