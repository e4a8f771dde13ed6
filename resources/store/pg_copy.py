"""PostgreSQL binary ``COPY … FROM STDIN`` of a pandas frame, encoded column by column.

What it is for: the store's bulk loads on PostgreSQL. Text CSV made Python format every float
(~0.6 µs a cell, most of a 1M-invoice load); the binary format takes numbers as big-endian bytes,
which numpy writes for a whole column at once. Only text cells are encoded one by one.

Not for: SQLite (the store uses ``executemany`` there), or types the store's schema does not use.
Supported column types: ``Float`` (float8), ``Integer`` (int4), ``Boolean``, ``DateTime`` with
time zone (timestamptz) and ``String``/``Text`` (text; dicts and lists become JSON text the way
the store's other writes do). Nulls (None, NaN, NaT, pd.NA) are SQL NULL.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Boolean, DateTime, Float, Integer, String

from invoice_assets.kernel.memory import collector_paused
from resources.store.cells import py_value

HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
TRAILER = struct.pack(">h", -1)
NULL = struct.pack(">i", -1)
_POSTGRES_EPOCH_US = 946_684_800_000_000  # 2000-01-01 UTC in microseconds since 1970
_INT4 = (-(2**31), 2**31 - 1)


def _fixed(values: np.ndarray, code: str, null: np.ndarray) -> list[bytes]:
    """Length-prefixed big-endian cells of a numeric column; NULL where ``null``."""
    width = np.dtype(code).itemsize
    cells = np.empty(len(values), dtype=[("length", ">i4"), ("value", code)])
    cells["length"] = width
    cells["value"] = values
    out: list[bytes] = cells.view(f"V{width + 4}").tolist()
    for i in np.flatnonzero(null).tolist():
        out[i] = NULL
    return out


def _python_values(series: pd.Series) -> list[Any]:
    values = series.to_numpy(dtype=object).tolist()
    for i in np.flatnonzero(series.isna().to_numpy()).tolist():
        values[i] = None
    return values


def _float_cells(series: pd.Series) -> list[bytes]:
    if series.dtype.kind in "biuf":
        values = series.to_numpy(dtype="float64", na_value=np.nan)
    else:  # object: Python numbers and None (a stray text value raises, as the database would)
        values = np.array(_python_values(series), dtype="float64")
    return _fixed(values, ">f8", np.isnan(values))


def _integer_cells(series: pd.Series) -> list[bytes]:
    null = series.isna().to_numpy()
    if series.dtype.kind in "iub":  # numpy or nullable (Int64, boolean) integers
        values = series.to_numpy(dtype="int64", na_value=0)
    else:  # Int64, float with NaN, or object
        raw = [0 if v is None else v for v in _python_values(series)]
        floats = np.array(raw, dtype="float64")
        if not np.all(floats == np.floor(floats)):
            raise ValueError(f"column {series.name!r}: non-integral value for an integer column")
        values = np.array([int(v) for v in raw], dtype="int64")
    if len(values) and (values.min() < _INT4[0] or values.max() > _INT4[1]):
        raise ValueError(f"column {series.name!r}: value outside the 32-bit integer range")
    return _fixed(values, ">i4", null)


def _boolean_cells(series: pd.Series) -> list[bytes]:
    null = series.isna().to_numpy()
    if series.dtype.kind == "b":
        values = series.to_numpy(dtype=bool, na_value=False)
    else:
        values = np.array([bool(v) for v in _python_values(series)], dtype=bool) & ~null
    return _fixed(values.astype("u1"), "u1", null)


def _timestamp_cells(series: pd.Series) -> list[bytes]:
    """Microseconds since 2000-01-01 UTC; naive values are taken as UTC."""
    if series.dtype.kind != "M":
        series = pd.to_datetime(pd.Series(_python_values(series), dtype=object), utc=True)
    stamps = series.dt.tz_localize("UTC") if series.dt.tz is None else series.dt.tz_convert("UTC")
    null = stamps.isna().to_numpy()
    micros = stamps.dt.as_unit("us").array.asi8.copy()  # type: ignore[attr-defined]
    micros[null] = 0
    return _fixed(micros - _POSTGRES_EPOCH_US, ">i8", null)


def _text_cells(series: pd.Series) -> list[bytes]:
    """Each distinct value is encoded once (days, statuses, labels and tariffs repeat; keys do
    not, and pay only for the hashing), then spread back to the rows."""
    values = series.to_numpy(dtype=object)
    try:
        codes, distinct = pd.factorize(values, use_na_sentinel=True)
    except TypeError:  # documents (dicts, lists) are not hashable: one by one
        codes = np.where(series.isna().to_numpy(), -1, np.arange(len(values)))
        distinct = values
    pack = struct.Struct(">i").pack
    encoded: list[bytes] = []
    for value in distinct.tolist():
        if value.__class__ is not str:  # documents → JSON text, numpy scalars → Python, as
            value = str(py_value(value))  # the store's other writes give them
        data = value.encode("utf-8")
        encoded.append(pack(len(data)) + data)
    encoded.append(NULL)  # code -1
    table = np.empty(len(encoded), dtype=object)
    table[:] = encoded
    out: list[bytes] = table[codes].tolist()
    return out


def column_cells(series: pd.Series, kind: Any) -> list[bytes]:
    """Every cell of one column in binary COPY form (length prefix + value, or NULL)."""
    if isinstance(kind, Float):
        return _float_cells(series)
    if isinstance(kind, Boolean):
        return _boolean_cells(series)
    if isinstance(kind, Integer):
        return _integer_cells(series)
    if isinstance(kind, DateTime):
        return _timestamp_cells(series)
    if isinstance(kind, String):  # Text is a String
        return _text_cells(series)
    raise TypeError(f"binary COPY does not encode {kind!r}")


def copy_chunks(
    frame: pd.DataFrame, columns: Sequence[Any], rows_per_chunk: int = 20_000
) -> Iterator[bytes]:
    """The binary COPY stream of ``frame`` for the table columns ``columns`` (SQLAlchemy
    ``Column`` objects; a column the frame lacks is NULL), ``rows_per_chunk`` rows per piece."""
    yield HEADER
    count = struct.pack(">h", len(columns))
    for start in range(0, len(frame), rows_per_chunk):
        part = frame.iloc[start : start + rows_per_chunk]
        n = len(part)
        with collector_paused():  # tens of thousands of new bytes objects
            cells = [
                column_cells(part[c.name], c.type) if c.name in part else [NULL] * n
                for c in columns
            ]
            piece = b"".join([count + b"".join(row) for row in zip(*cells, strict=True)])
            del cells
        yield piece
    yield TRAILER


class CopyStream:
    """A file-like ``read(size)`` over ``copy_chunks`` for psycopg2's ``copy_expert``: the
    server parses one piece while the next is encoded, and one piece is held at a time."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._data = b""
        self._at = 0

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._data) - self._at < size:
            piece = next(self._chunks, None)
            if piece is None:
                break
            self._data = self._data[self._at :] + piece
            self._at = 0
        end = len(self._data) if size < 0 else self._at + size
        out = self._data[self._at : end]
        self._at = min(end, len(self._data))
        return out


def copy_frame(
    raw_connection: Any, table: str, columns: Sequence[Any], frame: pd.DataFrame
) -> None:
    """Load ``frame`` into ``table`` (quoted name) through one binary COPY on a psycopg2
    connection, inside its current transaction."""
    names = ", ".join(f'"{c.name}"' for c in columns)
    cursor = raw_connection.cursor()
    try:
        cursor.copy_expert(
            f"COPY {table} ({names}) FROM STDIN WITH (FORMAT binary)",
            CopyStream(copy_chunks(frame, columns)),
            size=1 << 18,
        )
    finally:
        cursor.close()
