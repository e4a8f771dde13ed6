"""Values and frames between pandas and the store's database driver (the store's leaf module).

What it is for: ``InvoiceStore`` and its mixins turn pandas cells into DB-API values (column-wise,
in bounded chunks) and query results back into typed frames (straight from the driver's tuples,
the same dtypes on both backends). It imports no other module of the store: the bulk writers
(``bulk.py``), the binary COPY encoder (``pg_copy.py``) and the mixins all build on it.
Not for: deciding what is written (``resource.py``, ``ops.py``, ``reports.py``), writing rows
(``bulk.py``) or business rules (``invoice_assets.domain``).
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.engine import Connection

from invoice_assets.kernel.memory import collector_paused

INSERT_CHUNK_ROWS = 20_000
IN_CHUNK = 5_000  # values per IN (…) list: far below SQLite's 32,766 bound parameters


def py_value(value: Any) -> Any:
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


def json_text(value: Any) -> Any:
    """A document as JSON text for a text column; None (and NaN) stay null."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    return json.dumps(value, ensure_ascii=False, default=str)


def column_values(
    series: pd.Series, null: Any = None, process: Callable[[Any], Any] | None = None
) -> list[Any]:
    """``py_value`` of every cell of a column, converted column-wise: numbers and bools leave numpy
    in one pass (``astype(object)`` yields Python scalars), datetimes through
    ``DatetimeArray.to_pydatetime``, and only object cells that are not text go through
    ``py_value``.
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
        values = [v if v is null or v.__class__ is str else py_value(v) for v in values]
    if process is not None:
        values = [v if v is null else process(v) for v in values]
    return values


def row_chunks(
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
            column_values(part[c], null, p) if c in part else [null] * n
            for c, p in zip(columns, procs, strict=True)
        ]
        yield list(zip(*cells, strict=True))


def records(frame: pd.DataFrame, columns: Sequence[str]) -> list[dict[str, Any]]:
    """Rows as DB-API parameters (dicts); a column the frame lacks is null."""
    return [
        dict(zip(columns, row, strict=True)) for rows in row_chunks(frame, columns) for row in rows
    ]


def as_utc(value: Any) -> Any:
    """Aware UTC datetimes from either backend (SQLite returns naive values or ISO text)."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def utc_bound(value: datetime) -> datetime:
    """A moment to compare with stored times, in UTC: SQLite keeps a datetime as its wall-clock
    text without the offset, and every write stores UTC, so a bound in another zone (an
    Istanbul day's start) must be converted first or the window shifts by the offset."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


READ_BATCH_ROWS = 50_000  # driver tuples alive at once while a read is converted


def read_frame(
    conn: Connection,
    query: Any,
    nullable: Iterable[str] = (),
    batch_rows: int = READ_BATCH_ROWS,
) -> pd.DataFrame:
    """The rows of a ``select`` as a frame typed by its columns' SQL types, built column-wise.

    Rows come straight from the DB-API cursor as plain tuples (no SQLAlchemy ``Row`` objects,
    which pandas probes per row) and each column is converted once by ``_column``, so both
    backends give the same dtypes: booleans ``bool`` (null → False; the boolean columns named
    in ``nullable`` stay ``object`` True/False/None), floats ``float64``, integers ``Int64``,
    timestamps ``datetime64[us, UTC]`` (SQLite stores them as text; naive values are UTC),
    everything else ``object`` with ``None`` for null.

    The rows are fetched and converted ``batch_rows`` at a time (PostgreSQL: a server-side
    cursor), so a read's memory is its typed columns, not every row's driver tuple at once (a
    10M-row read of four columns was ~3 GiB of tuples). From the second batch on, a text column
    whose first batch repeated its values shares one string object per distinct value.
    """
    kinds = [c.type for c in query.selected_columns]
    keep = set(nullable)
    names: list[str] = []
    parts: list[list[Any]] = [[] for _ in kinds]
    memos: list[dict[Any, Any] | None] = [None] * len(kinds)
    for batch in _batches(conn, query, names, batch_rows):
        for i, (cells, kind) in enumerate(zip(batch, kinds, strict=True)):
            memo = memos[i]
            column: Sequence[Any] = cells
            if memo is not None:
                column = [memo.setdefault(v, v) for v in cells]
            converted = _column(column, kind, names[i] in keep)
            if not parts[i] and _shares_text(converted):
                memos[i] = {}
            parts[i].append(converted)
        del batch
    columns: dict[str, Any] = {}
    for name, kind, pieces in zip(names, kinds, parts, strict=True):
        columns[name] = _joined(pieces) if pieces else _column((), kind, name in keep)
        pieces.clear()  # each column's batches are freed once it is joined
    return pd.DataFrame(columns, copy=False)


_CURSOR_NUMBERS = itertools.count()


def _batches(
    conn: Connection, query: Any, names: list[str], size: int
) -> Iterator[list[tuple[Any, ...]]]:
    """The query's rows, ``size`` at a time, transposed into columns; ``names`` is
    filled with the result's column names before the first batch.

    PostgreSQL reads through a server-side (named) cursor: psycopg2's ordinary cursor holds the
    whole result in the client library's memory. SQLAlchemy's own ``stream_results`` pre-fetches
    rows into its result object, so the DB-API cursor is opened here, on the transaction's
    connection, with the statement compiled as SQLAlchemy would send it (the store's columns
    have no bind processors on psycopg2). SQLite's cursor already steps through the rows."""
    if conn.dialect.name == "postgresql":
        compiled = query.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
        raw = conn.connection.dbapi_connection
        assert raw is not None
        setting = raw.cursor()
        try:
            # A cursor is planned for its first 10 % of rows by default: a nested loop over a
            # join the whole read then pays (minutes for one chunk's incidents at 10M invoices).
            # Planned for all its rows, it gets the plan the same query gets without a cursor.
            setting.execute("SET LOCAL cursor_tuple_fraction = 1.0")
        finally:
            setting.close()
        cursor = raw.cursor(name=f"read_frame_{next(_CURSOR_NUMBERS)}")
        cursor.execute(str(compiled), compiled.params)
        first = True
    else:
        result = conn.execute(query)
        names.extend(result.keys())
        cursor, first = result.cursor, False
    try:
        while True:
            # The cyclic GC would otherwise run over and over while row tuples are created (it
            # doubled the time of a 300k-row read); it is back on after each batch.
            with collector_paused():
                rows = cursor.fetchmany(size)
                if first:  # a named cursor describes its columns after the first fetch
                    names.extend(d[0] for d in cursor.description)
                    first = False
                if not rows:
                    return
                columns = list(zip(*rows, strict=True))
                del rows
            yield columns
    finally:
        cursor.close()


def _shares_text(column: Any) -> bool:
    """A text column of one batch (never empty) with at most half as many distinct values as
    rows (a one-row batch has none to share)."""
    if not isinstance(column, pd.Series) or column.dtype != object:
        return False
    try:
        return column.nunique(dropna=False) * 2 <= len(column)
    except TypeError:  # unhashable cells
        return False


def _joined(pieces: list[Any]) -> Any:
    """One column from its batches' arrays (the same dtype)."""
    if len(pieces) == 1:
        return pieces[0]
    if all(isinstance(p, np.ndarray) for p in pieces):
        return np.concatenate(pieces)
    return pd.concat([pd.Series(p, copy=False) for p in pieces], ignore_index=True)


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


def integer_columns(frame: pd.DataFrame, table: Any) -> pd.DataFrame:
    """Integer columns that arrive as floats (an int column with nulls, e.g. ``http_status``
    200.0 / NaN) as nullable integers: PostgreSQL's COPY refuses "200.0" for an integer."""
    from sqlalchemy import Integer

    fixes = {
        c.name: frame[c.name].astype("Int64")
        for c in table.columns
        if isinstance(c.type, Integer) and c.name in frame and frame[c.name].dtype.kind == "f"
    }
    return frame.assign(**fixes) if fixes else frame
