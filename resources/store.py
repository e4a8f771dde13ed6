"""InvoiceStore: the product's own database (SQLAlchemy Core over SQLite or PostgreSQL).

The embedded default is a SQLite file under ``INVOICE_HOME`` (``./.invoice_home``); set
``INVOICE_DB_URL`` (``postgresql+psycopg2://…``) for PostgreSQL. The schema is created or migrated
on first use and carries a version. Stage writes replace a partition in one transaction (delete,
then bulk insert), which is what makes reruns and backfills idempotent. Incident writes are
upserts by dedupe key that never touch operator fields (status set by a person, resolution,
feedback).

Not for: business rules (``invoice_assets.domain``) or Dagster's own storage.
"""

from __future__ import annotations

import gc
import json
import math
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from threading import Lock
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd
from pydantic import Field
from sqlalchemy import (
    Engine,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection

from invoice_assets.domain.records import source_name
from resources import store_schema as s
from resources.pg_binary import copy_frame
from resources.store_ops import StoreOps

INSERT_CHUNK_ROWS = 20_000
IN_CHUNK = 5_000  # values per IN (…) list: far below SQLite's 32,766 bound parameters
_ENGINES: dict[str, Engine] = {}
_SCHEMA_READY: set[str] = set()  # URLs whose schema this process already created or checked
_ENGINE_LOCK = Lock()


def utcnow() -> datetime:
    return datetime.now(UTC)


def _engine(url: str) -> Engine:
    with _ENGINE_LOCK:
        engine = _ENGINES.get(url)
        if engine is None:
            if url.startswith("sqlite"):
                path = url.split("///", 1)[-1]
                if path and path != ":memory:":
                    Path(path).parent.mkdir(parents=True, exist_ok=True)
                engine = create_engine(url, connect_args={"timeout": 30})
                event.listen(engine, "connect", _sqlite_pragmas)
            else:
                engine = create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 5})
            _ENGINES[url] = engine
        return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def dispose_engine(url: str) -> None:
    """Close pooled connections for ``url`` (tests that drop databases call this)."""
    with _ENGINE_LOCK:
        engine = _ENGINES.pop(url, None)
        _SCHEMA_READY.discard(url)
    if engine is not None:
        engine.dispose()


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
    # transposition, and left off only if it was off already (threads: the last one restores).
    collecting = gc.isenabled()
    gc.disable()
    try:
        names = list(result.keys())
        rows = result.cursor.fetchall()
        values: list[Sequence[Any]] = list(zip(*rows, strict=True)) if rows else [()] * len(names)
        del rows
    finally:
        if collecting:
            gc.enable()
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


@dataclass(frozen=True)
class InboxEntry:
    """A file found in (or copied into) the inbox for one day."""

    file_name: str
    path: str
    sha256: str
    size_bytes: int


class InvoiceStore(StoreOps, dg.ConfigurableResource):
    """Invoices, stage results, incidents, queue, alerts and request log in one database."""

    db_url: str | None = Field(
        default=None,
        repr=False,  # may hold a password
        description="SQLAlchemy URL (postgresql+psycopg2://…); unset means SQLite under `home`.",
    )
    home: str = Field(
        default=".invoice_home", description="INVOICE_HOME: holds the SQLite store and the inbox."
    )

    @property
    def url(self) -> str:
        if self.db_url:
            return self.db_url
        return f"sqlite:///{Path(self.home).resolve() / 'invoice.db'}"

    @property
    def backend(self) -> str:
        return "postgresql" if self.url.startswith("postgresql") else "sqlite"

    @property
    def engine(self) -> Engine:
        return _engine(self.url)

    # -- schema ---------------------------------------------------------------------------------
    def ensure_schema(self) -> int:
        """Create missing tables and run pending migrations; returns the schema version."""
        if self.url in _SCHEMA_READY:
            return s.SCHEMA_VERSION
        version = self._migrate()
        _SCHEMA_READY.add(self.url)
        return version

    def _migrate(self) -> int:
        with self.engine.begin() as conn:
            s.metadata.create_all(conn)
            row = conn.execute(
                select(s.store_meta.c.value).where(s.store_meta.c.key == "schema_version")
            ).scalar()
            version = int(row) if row is not None else 0
            if version == 0:
                conn.execute(
                    insert(s.store_meta).values(key="schema_version", value=str(s.SCHEMA_VERSION))
                )
                return s.SCHEMA_VERSION
            for target in range(version + 1, s.SCHEMA_VERSION + 1):
                for statement in s.MIGRATIONS.get(target, []):
                    conn.execute(text(statement))
            if version < s.SCHEMA_VERSION:
                conn.execute(
                    update(s.store_meta)
                    .where(s.store_meta.c.key == "schema_version")
                    .values(value=str(s.SCHEMA_VERSION))
                )
            return max(version, s.SCHEMA_VERSION)

    def ping_ms(self) -> float:
        """Round-trip time of ``SELECT 1`` in milliseconds (raises if the database is down)."""
        started = time.perf_counter()
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return (time.perf_counter() - started) * 1000.0

    # -- stage partitions -----------------------------------------------------------------------
    def replace_partitions(self, writes: dict[str, pd.DataFrame], days: Sequence[str]) -> None:
        """Replace ``days`` of each named stage table with the frames' rows, atomically."""
        with self.engine.begin() as conn:
            for name, frame in writes.items():
                table = s.STAGE_TABLES[name]
                conn.execute(delete(table).where(table.c.day.in_(list(days))))
                if len(frame):
                    self._bulk_insert(conn, name, frame)

    def replace_partitions_streamed(
        self, names: Sequence[str], days: Sequence[str], chunks: Iterable[dict[str, pd.DataFrame]]
    ) -> None:
        """Replace ``days`` of the named stage tables with the rows of ``chunks`` (each a dict of
        table name → frame), atomically; a chunk is produced only after the previous one is
        written, so a producer that builds its frames lazily bounds memory by one chunk.

        The producer runs inside the transaction: on SQLite it must not write to the store
        through another connection meanwhile (the write lock is held).
        """
        unknown = set(names) - set(s.STAGE_TABLES)
        if unknown:
            raise ValueError(f"unknown stage tables: {sorted(unknown)}")
        with self.engine.begin() as conn:
            for name in names:
                table = s.STAGE_TABLES[name]
                conn.execute(delete(table).where(table.c.day.in_(list(days))))
            for writes in chunks:
                for name, frame in writes.items():
                    if name not in names:
                        raise ValueError(f"{name!r} is not among the replaced tables {names}")
                    if len(frame):
                        self._bulk_insert(conn, name, frame)

    def _bulk_insert(self, conn: Connection, name: str, frame: pd.DataFrame) -> None:
        table = s.STAGE_TABLES[name]
        _insert_frame(conn, table, _integer_columns(frame, table), [c.name for c in table.columns])

    def read_stage(
        self, name: str, days: Sequence[str], columns: Sequence[str] | None = None
    ) -> pd.DataFrame:
        """Rows of a stage table for ``days`` (all columns, or only ``columns``), typed by the
        schema the same way on both backends (see ``_read_frame``)."""
        table = s.STAGE_TABLES[name]
        picked = [table.c[c] for c in columns] if columns is not None else list(table.columns)
        with self.engine.connect() as conn:
            return _read_frame(conn, select(*picked).where(table.c.day.in_(list(days))))

    def read_stage_range(
        self, name: str, first_day: str, last_day: str, columns: Sequence[str]
    ) -> pd.DataFrame:
        table = s.STAGE_TABLES[name]
        query = select(*[table.c[c] for c in columns]).where(
            table.c.day.between(first_day, last_day)
        )
        with self.engine.connect() as conn:
            return _read_frame(conn, query)

    def mark_decided(self, days: Sequence[str], at: datetime) -> None:
        """Stamp the incident decision time and pipeline latency on the days' extractions."""
        # One set-based UPDATE per call: pipeline_total_ms = max(0, at - started_at) in ms,
        # computed by the database (null where started_at is null), exact to the microsecond.
        at_utc = at.astimezone(UTC) if at.tzinfo is not None else at
        if self.backend == "postgresql":
            elapsed = "EXTRACT(EPOCH FROM (:at_utc - started_at)) * 1000.0"
            clamp = "GREATEST"
        else:
            # SQLite stores timestamps as SQLAlchemy's UTC text "YYYY-MM-DD HH:MM:SS.ffffff":
            # whole seconds through strftime('%s') plus the microsecond digits, so no rounding
            # to julianday's milliseconds.
            elapsed = (
                "(CAST(strftime('%s', substr(:at_utc, 1, 19)) AS INTEGER)"
                " - CAST(strftime('%s', substr(started_at, 1, 19)) AS INTEGER)) * 1000.0"
                " + (CAST(substr(:at_utc, 21, 6) AS INTEGER)"
                " - CAST(substr(started_at, 21, 6) AS INTEGER)) / 1000.0"
            )
            clamp = "MAX"
        statement = text(
            "UPDATE extractions SET decided_at = :at, pipeline_total_ms = CASE"
            f" WHEN started_at IS NULL THEN NULL ELSE {clamp}(0.0, {elapsed}) END"
            " WHERE day IN :days"
        ).bindparams(
            bindparam("at", type_=s.TS),
            bindparam("at_utc", type_=s.TS),
            bindparam("days", expanding=True),
        )
        with self.engine.begin() as conn:
            if days:
                conn.execute(statement, {"at": at, "at_utc": at_utc, "days": list(days)})

    # -- inbox queue ----------------------------------------------------------------------------
    def register_inbox(self, day: str, entries: Iterable[InboxEntry]) -> int:
        """Register files for a day (new → received; changed content → received again).

        Returns the number of files that are new or changed.
        """
        now = utcnow()
        q = s.inbox_files
        with self.engine.begin() as conn:
            known = {
                r.file_name: r.sha256
                for r in conn.execute(select(q.c.file_name, q.c.sha256).where(q.c.day == day))
            }
            new, changed = [], []
            for e in entries:
                if e.file_name not in known:
                    new.append(
                        {
                            "day": day,
                            "file_name": e.file_name,
                            "path": source_name(e.path),
                            "sha256": e.sha256,
                            "size_bytes": e.size_bytes,
                            "status": "received",
                            "attempts": 0,
                            "registered_at": now,
                            "updated_at": now,
                        }
                    )
                elif known[e.file_name] != e.sha256:
                    changed.append(
                        {
                            "b_name": e.file_name,
                            "b_sha": e.sha256,
                            "b_size": e.size_bytes,
                            "b_path": source_name(e.path),
                        }
                    )
            # One bulk insert and one executemany (not one statement per file).
            if new:
                _insert_frame(conn, q, pd.DataFrame(new), list(new[0]))
            if changed:
                conn.execute(
                    update(q)
                    .where(q.c.day == day, q.c.file_name == bindparam("b_name"))
                    .values(
                        sha256=bindparam("b_sha"),
                        size_bytes=bindparam("b_size"),
                        path=bindparam("b_path"),
                        status="received",
                        updated_at=now,
                    ),
                    changed,
                )
            self._sample_depth(conn, now)
        return len(new) + len(changed)

    def inbox_files(self, days: Sequence[str]) -> pd.DataFrame:
        q = s.inbox_files
        with self.engine.connect() as conn:
            return _read_frame(
                conn, select(q).where(q.c.day.in_(list(days))).order_by(q.c.day, q.c.file_name)
            )

    def set_inbox_status(
        self,
        day: str,
        file_names: Sequence[str],
        status: str,
        *,
        attempt: bool = False,
        items: dict[str, tuple[int, int]] | None = None,
        error_codes: dict[str, str | None] | None = None,
    ) -> None:
        """Move files to ``status``; ``items`` maps file → (items, failed items)."""
        now = utcnow()
        q = s.inbox_files
        # Files that get the same values share one UPDATE … WHERE file_name IN (…) (chunked
        # below every backend's bound-parameter limit), instead of one statement per file.
        groups: dict[tuple[Any, Any], list[str]] = {}
        for name in dict.fromkeys(file_names):
            counts = items.get(name) if items else None
            code = error_codes.get(name) if error_codes is not None else None
            groups.setdefault((counts, code), []).append(name)
        with self.engine.begin() as conn:
            for (counts, code), names in groups.items():
                values: dict[str, Any] = {"status": status, "updated_at": now}
                if attempt:
                    values["attempts"] = q.c.attempts + 1
                if counts is not None:
                    values["items"], values["failed_items"] = counts
                if error_codes is not None:
                    values["error_code"] = code
                for start in range(0, len(names), IN_CHUNK):
                    conn.execute(
                        update(q)
                        .where(q.c.day == day, q.c.file_name.in_(names[start : start + IN_CHUNK]))
                        .values(**values)
                    )
            self._sample_depth(conn, now)

    def _sample_depth(self, conn: Connection, now: datetime) -> None:
        depth = conn.execute(
            select(func.count())
            .select_from(s.inbox_files)
            .where(s.inbox_files.c.status.in_(["received", "processing"]))
        ).scalar_one()
        conn.execute(insert(s.queue_samples).values(at=now, depth=int(depth)))

    def queue_state(
        self, stuck_minutes: float, since: datetime | None = None, until: datetime | None = None
    ) -> dict[str, Any]:
        """Depth now, max depth in a period, last progress, and whether the queue is stuck."""
        q = s.inbox_files
        with self.engine.connect() as conn:
            depth = conn.execute(
                select(func.count())
                .select_from(q)
                .where(q.c.status.in_(["received", "processing"]))
            ).scalar_one()
            last = conn.execute(select(func.max(q.c.updated_at))).scalar()
            qs = select(func.max(s.queue_samples.c.depth))
            if since is not None:
                qs = qs.where(s.queue_samples.c.at >= since)
            if until is not None:
                qs = qs.where(s.queue_samples.c.at < until)
            max_depth = conn.execute(qs).scalar()
        last = _as_utc(last)
        idle = (utcnow() - last).total_seconds() / 60.0 if last else 0.0
        return {
            "current_depth": int(depth),
            "max_depth_in_period": int(max(max_depth or 0, depth if since is None else 0)),
            "last_progress_at": last.isoformat() if last else None,
            "stuck_detected": bool(depth > 0 and idle >= stuck_minutes),
        }


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
        for rows in _row_chunks(frame, columns, processors=processors):
            cursor.executemany(statement, rows)
    finally:
        cursor.close()


def _update_by_key(
    conn: Connection, table: Any, key: str, frame: pd.DataFrame, columns: list[str]
) -> None:
    """Set ``columns`` of the rows of ``table`` whose ``key`` is in the frame, from the frame.

    PostgreSQL: COPY into a temporary table and one ``UPDATE … FROM`` (an executemany UPDATE
    is one round trip per row there); SQLite: one executemany.
    """
    if conn.dialect.name == "postgresql":
        quote = conn.dialect.identifier_preparer.quote
        name, temp, cols = quote(table.name), f"{table.name}_updates", [key, *columns]
        conn.exec_driver_sql(
            f"CREATE TEMPORARY TABLE {temp} ON COMMIT DROP AS"
            f" SELECT {', '.join(quote(c) for c in cols)} FROM {name} WITH NO DATA"
        )
        copy_frame(conn.connection.dbapi_connection, temp, [table.c[c] for c in cols], frame)
        conn.exec_driver_sql(
            f"UPDATE {name} SET {', '.join(f'{quote(c)} = u.{quote(c)}' for c in columns)}"
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
        .values({c: bindparam(c) for c in columns}),
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
