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

import json
import math
import time
from collections.abc import Iterable, Sequence
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
from resources.store_ops import StoreOps

INSERT_CHUNK_ROWS = 20_000
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


def _records(frame: pd.DataFrame, columns: Sequence[str]) -> list[dict[str, Any]]:
    """Rows as DB-API parameters; a column the frame lacks is null."""
    n = len(frame)
    data = {
        c: frame[c].to_numpy(dtype=object) if c in frame else np.full(n, None, dtype=object)
        for c in columns
    }
    return [{c: _py(data[c][i]) for c in columns} for i in range(n)]


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

    def _bulk_insert(self, conn: Connection, name: str, frame: pd.DataFrame) -> None:
        table = s.STAGE_TABLES[name]
        columns = [c.name for c in table.columns]
        frame = _integer_columns(frame, table)
        # Chunks keep the DB-API rows of a large partition from all living in memory at once
        # (1M invoices as one list of dicts needed ~18 GiB); the transaction is still one.
        for start in range(0, len(frame), INSERT_CHUNK_ROWS):
            rows = _records(frame.iloc[start : start + INSERT_CHUNK_ROWS], columns)
            if self.backend == "postgresql":
                _copy_rows(conn, name, columns, rows)
            else:
                conn.execute(insert(table), rows)

    def read_stage(self, name: str, days: Sequence[str]) -> pd.DataFrame:
        """Rows of a stage table for ``days``, with the column types of the schema."""
        table = s.STAGE_TABLES[name]
        with self.engine.connect() as conn:
            result = conn.execute(select(table).where(table.c.day.in_(list(days))))
            frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
        return _typed(frame, table)

    def read_stage_range(
        self, name: str, first_day: str, last_day: str, columns: Sequence[str]
    ) -> pd.DataFrame:
        table = s.STAGE_TABLES[name]
        query = select(*[table.c[c] for c in columns]).where(
            table.c.day.between(first_day, last_day)
        )
        with self.engine.connect() as conn:
            result = conn.execute(query)
            frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
        return _typed(frame, table)

    def mark_decided(self, days: Sequence[str], at: datetime) -> None:
        """Stamp the incident decision time and pipeline latency on the days' extractions."""
        x = s.extractions
        with self.engine.begin() as conn:
            rows = conn.execute(
                select(x.c.day, x.c.invoice_key, x.c.started_at).where(x.c.day.in_(list(days)))
            ).fetchall()
            updates = [
                {
                    "d": r.day,
                    "k": r.invoice_key,
                    "at": at,
                    "ms": max(0.0, (at - _as_utc(r.started_at)).total_seconds() * 1000.0)
                    if r.started_at
                    else None,
                }
                for r in rows
            ]
            if updates:
                conn.execute(
                    update(x)
                    .where(x.c.day == bindparam("d"), x.c.invoice_key == bindparam("k"))
                    .values(decided_at=bindparam("at"), pipeline_total_ms=bindparam("ms")),
                    updates,
                )

    # -- inbox queue ----------------------------------------------------------------------------
    def register_inbox(self, day: str, entries: Iterable[InboxEntry]) -> int:
        """Register files for a day (new → received; changed content → received again).

        Returns the number of files that are new or changed.
        """
        now = utcnow()
        q = s.inbox_files
        changed = 0
        with self.engine.begin() as conn:
            known = {
                r.file_name: r.sha256
                for r in conn.execute(select(q.c.file_name, q.c.sha256).where(q.c.day == day))
            }
            for e in entries:
                if e.file_name not in known:
                    conn.execute(
                        insert(q).values(
                            day=day,
                            file_name=e.file_name,
                            path=source_name(e.path),
                            sha256=e.sha256,
                            size_bytes=e.size_bytes,
                            status="received",
                            attempts=0,
                            registered_at=now,
                            updated_at=now,
                        )
                    )
                    changed += 1
                elif known[e.file_name] != e.sha256:
                    conn.execute(
                        update(q)
                        .where(q.c.day == day, q.c.file_name == e.file_name)
                        .values(
                            sha256=e.sha256,
                            size_bytes=e.size_bytes,
                            path=source_name(e.path),
                            status="received",
                            updated_at=now,
                        )
                    )
                    changed += 1
            self._sample_depth(conn, now)
        return changed

    def inbox_files(self, days: Sequence[str]) -> pd.DataFrame:
        q = s.inbox_files
        with self.engine.connect() as conn:
            result = conn.execute(
                select(q).where(q.c.day.in_(list(days))).order_by(q.c.day, q.c.file_name)
            )
            return pd.DataFrame(result.fetchall(), columns=list(result.keys()))

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
        with self.engine.begin() as conn:
            for name in file_names:
                values: dict[str, Any] = {"status": status, "updated_at": now}
                if attempt:
                    values["attempts"] = q.c.attempts + 1
                if items and name in items:
                    values["items"], values["failed_items"] = items[name]
                if error_codes is not None:
                    values["error_code"] = error_codes.get(name)
                conn.execute(
                    update(q).where(q.c.day == day, q.c.file_name == name).values(**values)
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


def _typed(frame: pd.DataFrame, table: Any) -> pd.DataFrame:
    """Restore dtypes that the DB-API loses (SQLite booleans as ints, all-null floats)."""
    from sqlalchemy import Boolean, Float, Integer

    for column in table.columns:
        if column.name not in frame:
            continue
        kind = column.type
        if isinstance(kind, Boolean):
            frame[column.name] = frame[column.name].fillna(False).astype(bool)
        elif isinstance(kind, Float):
            frame[column.name] = pd.to_numeric(frame[column.name], errors="coerce").astype(
                "float64"
            )
        elif isinstance(kind, Integer):
            frame[column.name] = pd.to_numeric(frame[column.name], errors="coerce").astype("Int64")
        else:
            frame[column.name] = frame[column.name].astype("object")
    return frame


def _copy_rows(conn: Connection, name: str, columns: list[str], rows: list[dict[str, Any]]) -> None:
    """PostgreSQL bulk load through COPY (several times faster than INSERT batches)."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for row in rows:
        writer.writerow(["\\N" if row[c] is None else row[c] for c in columns])
    buffer.seek(0)
    raw = conn.connection.dbapi_connection
    assert raw is not None
    cursor = raw.cursor()
    try:
        cursor.copy_expert(  # type: ignore[attr-defined]  # psycopg2 cursor
            f"COPY {name} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv, NULL '\\N')", buffer
        )
    finally:
        cursor.close()
