"""Moving frames in and out of the store's database, fast, on SQLite and PostgreSQL.

What it is for: ``InvoiceStore`` and its mixins turn pandas frames into driver rows
(column-wise, in bounded chunks; binary COPY on PostgreSQL, ``executemany`` on SQLite) and query
results back into typed frames (straight from the driver's tuples, the same dtypes on both
backends). Not for: deciding what is written (``resources/store.py``, ``store_ops.py``,
``store_reports.py``) or business rules (``invoice_assets.domain``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import bindparam, update
from sqlalchemy.engine import Connection

from invoice_assets.domain.arrays import collector_paused
from resources.store_marker import mark_written

INSERT_CHUNK_ROWS = 20_000
IN_CHUNK = 5_000  # values per IN (…) list: far below SQLite's 32,766 bound parameters


def _py(value: Any) -> Any:
    """A DB-API friendly scalar: numpy → python, NaN/NaT → None, containers → JSON text."""
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) else float(value)
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, ensure_ascii=False, default=str)
    return value


def _column_values(
    series: pd.Series, null: Any = None, process: Callable[[Any], Any] | None = None
) -> list[Any]:
    """``_py`` of every cell of a column, converted column-wise: numbers and bools leave numpy
    in one pass (``astype(object)`` yields Python scalars), datetimes through
    ``DatetimeArray.to_pydatetime``, and only object cells that are not text go through ``_py``.
    Nulls (None, NaN, NaT, pd.NA) become ``null``; ``process`` (a bind processor) maps the rest.
    """
    kind = series.dtype.kind
    if kind == "M":
        values: list[Any] = series.array.to_pydatetime().tolist()  # type: ignore[attr-defined]
    else:
        values = series.to_numpy(dtype=object).tolist()
    for i in np.flatnonzero(series.isna().to_numpy()).tolist():
        values[i] = null
    if kind not in "biufM":  # object / text / other: containers → JSON, stray numpy scalars
        values = [v if v is null or v.__class__ is str else _py(v) for v in values]
    if process is not None:
        values = [v if v is null else process(v) for v in values]
    return values


def _row_chunks(
    frame: pd.DataFrame,
    columns: Sequence[str],
    *,
    null: Any = None,
    processors: Sequence[Callable[[Any], Any] | None] | None = None,
    size: int | None = None,
) -> Iterator[list[tuple[Any, ...]]]:
    """The frame's rows as DB-API tuples in ``columns`` order, ``size`` rows at a time (at most
    one chunk of Python values is alive at once); a column the frame lacks is null."""
    size = size or INSERT_CHUNK_ROWS
    procs = processors or [None] * len(columns)
    for start in range(0, len(frame), size):
        part = frame.iloc[start : start + size]
        n = len(part)
        cells = [
            _column_values(part[c], null, p) if c in part else [null] * n
            for c, p in zip(columns, procs, strict=True)
        ]
        yield list(zip(*cells, strict=True))


def _records(frame: pd.DataFrame, columns: Sequence[str]) -> list[dict[str, Any]]:
    """Rows as DB-API parameters (dicts); a column the frame lacks is null."""
    return [
        dict(zip(columns, row, strict=True)) for rows in _row_chunks(frame, columns) for row in rows
    ]


def _as_utc(value: Any) -> Any:
    """Aware UTC datetimes from either backend (SQLite returns naive values or ISO text)."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _read_frame(conn: Connection, query: Any, nullable: Iterable[str] = ()) -> pd.DataFrame:
    """The rows of a ``select`` as a frame typed by its columns' SQL types, built column-wise.

    Rows come straight from the DB-API cursor as plain tuples (no SQLAlchemy ``Row`` objects,
    which pandas probes per row) and each column is converted once by ``_column``, so both
    backends give the same dtypes: booleans ``bool`` (null → False; the boolean columns named
    in ``nullable`` stay ``object`` True/False/None), floats ``float64``, integers ``Int64``,
    timestamps ``datetime64[us, UTC]`` (SQLite stores them as text; naive values are UTC),
    everything else ``object`` with ``None`` for null.
    """
    kinds = [c.type for c in query.selected_columns]
    keep = set(nullable)
    result = conn.execute(query)
    # The cyclic GC would otherwise run over and over while hundreds of thousands of row tuples
    # are created (it doubled the time of a 300k-row read); it is back on right after the
    # transposition.
    try:
        with collector_paused():
            names = list(result.keys())
            rows = result.cursor.fetchall()
            values: list[Sequence[Any]] = (
                list(zip(*rows, strict=True)) if rows else [()] * len(names)
            )
            del rows
    finally:
        result.close()
    return pd.DataFrame(
        {n: _column(v, k, n in keep) for n, v, k in zip(names, values, kinds, strict=True)},
        copy=False,
    )


def _column(values: Sequence[Any], kind: Any, nullable: bool = False) -> Any:
    """One column of driver values as an array of the dtype its SQL type maps to."""
    from sqlalchemy import Boolean, DateTime, Float, Integer

    if isinstance(kind, Boolean):
        if nullable:
            return pd.Series([None if v is None else bool(v) for v in values], dtype=object)
        return np.array(values, dtype=object).astype(bool)  # 1/0/True/False/None → truthiness
    if isinstance(kind, Float):
        try:
            return np.array(values, dtype="float64")  # None → NaN
        except (TypeError, ValueError):
            return pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").astype("float64")
    if isinstance(kind, Integer):
        missing = np.fromiter((v is None for v in values), dtype=bool, count=len(values))
        data = np.array([0 if v is None else v for v in values] if missing.any() else values)
        if len(values) and data.dtype.kind == "i":  # only Python ints (else the general path)
            return pd.arrays.IntegerArray(data.astype("int64"), missing)
        return pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").astype("Int64")
    if isinstance(kind, DateTime):
        return pd.to_datetime(pd.Series(values, dtype=object), utc=True, format="ISO8601").astype(
            "datetime64[us, UTC]"
        )
    return pd.Series(np.array(values, dtype=object), dtype=object, copy=False)


def _integer_columns(frame: pd.DataFrame, table: Any) -> pd.DataFrame:
    """Integer columns that arrive as floats (an int column with nulls, e.g. ``http_status``
    200.0 / NaN) as nullable integers: PostgreSQL's COPY refuses "200.0" for an integer."""
    from sqlalchemy import Integer

    fixes = {
        c.name: frame[c.name].astype("Int64")
        for c in table.columns
        if isinstance(c.type, Integer) and c.name in frame and frame[c.name].dtype.kind == "f"
    }
    return frame.assign(**fixes) if fixes else frame


def _insert_frame(conn: Connection, table: Any, frame: pd.DataFrame, columns: list[str]) -> None:
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
        from resources.pg_binary import copy_frame  # it encodes text cells with _py

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
        for rows in _row_chunks(frame, columns, processors=processors):
            cursor.executemany(statement, rows)
    finally:
        cursor.close()


def _update_by_key(
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
        from resources.pg_binary import copy_frame

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
        for chunk in _row_chunks(frame, [key, *columns])
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
