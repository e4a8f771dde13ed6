"""InvoiceStore: the product's own database (SQLAlchemy Core over SQLite or PostgreSQL).

The embedded default is a SQLite file under ``INVOICE_HOME`` (``./.invoice_home``); set
``INVOICE_DB_URL`` (``postgresql+psycopg2://…``) for PostgreSQL. The schema is created or migrated
once per process, on the first use of the engine for its URL (``InvoiceStore.engine``), and
carries a version: no caller has to remember it. Stage writes replace a partition in one
transaction (delete, then bulk insert), which is what makes reruns and backfills idempotent.
Incident writes are upserts by dedupe key that never touch operator fields (status set by a
person, resolution, feedback).

Not for: business rules (``invoice_assets.domain``) or Dagster's own storage.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from threading import Lock
from typing import Any

import dagster as dg
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

from invoice_assets.domain.records import ItemError, source_name
from invoice_assets.domain.summary import queue_stuck
from invoice_assets.kernel.clock import SYSTEM_CLOCK
from resources.store import marker as store_marker
from resources.store import migrations
from resources.store import schema as s
from resources.store.alerts import AlertOps
from resources.store.bulk import insert_frame
from resources.store.cells import IN_CHUNK, as_utc, integer_columns, read_frame, utc_bound
from resources.store.health import SQLITE_BUSY_SECONDS, HealthOps
from resources.store.locking import replace_staged, schema_is_current, schema_lock
from resources.store.ops import StoreOps, key_range
from resources.store.report_queries import ReportOps

# Invoices a stage holds at once: ~2.5 kB per invoice across a stage's frames, so ~250 MB of
# frames beside the process's own ~400 MB (bench/README.md, "Bounded memory per run").
DEFAULT_CHUNK_INVOICES = 100_000
_ENGINES: dict[str, Engine] = {}
_SCHEMA_READY: set[str] = set()  # URLs whose schema this process already created or checked
_ENGINE_LOCK = Lock()
_SCHEMA_LOCK = Lock()  # held while this process creates or migrates a schema


def _engine(url: str) -> Engine:
    with _ENGINE_LOCK:
        engine = _ENGINES.get(url)
        if engine is None:
            if url.startswith("sqlite"):
                path = url.split("///", 1)[-1]
                if path and path != ":memory:":
                    Path(path).parent.mkdir(parents=True, exist_ok=True)
                engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_SECONDS})
                event.listen(engine, "connect", _sqlite_pragmas)
            else:
                engine = create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 5})
            store_marker.install(engine)
            _ENGINES[url] = engine
        return engine


def forget_decisions(conn: Connection, days: Sequence[str]) -> None:
    """Decisions follow extractions: a day whose extractions are rewritten has not been decided
    yet, so its decision time goes (in the rewrite's transaction), or the new rows would be
    measured against a decision made before they started. ``mark_decided`` sets it again."""
    if days:
        conn.execute(delete(s.decisions).where(s.decisions.c.day.in_(list(days))))


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


@dataclass(frozen=True)
class InboxEntry:
    """A file found in (or copied into) the inbox for one day; ``refusal`` is set for an entry
    that must not be read (a link out of the inbox, a directory, …): it fails with that error."""

    file_name: str
    path: str
    sha256: str
    size_bytes: int
    refusal: ItemError | None = None


class InvoiceStore(StoreOps, ReportOps, AlertOps, HealthOps, dg.ConfigurableResource):
    """Invoices, stage results, incidents, queue, alerts and request log in one database."""

    db_url: str | None = Field(
        default=None,
        repr=False,  # may hold a password
        description="SQLAlchemy URL (postgresql+psycopg2://…); unset means SQLite under `home`.",
    )
    home: str = Field(
        default=".invoice_home", description="INVOICE_HOME: holds the SQLite store and the inbox."
    )
    chunk_invoices: int = Field(
        default=DEFAULT_CHUNK_INVOICES,
        gt=0,
        description=(
            "INVOICE_CHUNK_INVOICES: invoices a stage reads, computes and writes at once (a day "
            "is processed in chunks of invoice keys: memory follows the chunk, not the day)."
        ),
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
        """The pooled engine of ``url``; its schema is ensured on the first use in a process."""
        url = self.url
        if url not in _SCHEMA_READY:
            self.ensure_schema()
        return _engine(url)

    # -- schema ---------------------------------------------------------------------------------
    def ensure_schema(self) -> int:
        """Create missing tables and run pending migrations, once per process and URL (the
        ``engine`` property calls it; nobody else has to); returns the schema version."""
        url = self.url
        if url in _SCHEMA_READY:
            return s.SCHEMA_VERSION
        with _SCHEMA_LOCK:  # threads of one process (the readiness checks) ensure it once
            if url in _SCHEMA_READY:
                return s.SCHEMA_VERSION
            version = self._migrate(_engine(url))
            _SCHEMA_READY.add(url)
        return version

    def _migrate(self, engine: Engine) -> int:
        if schema_is_current(engine):  # a store opened as it is writes (and locks) nothing
            return s.SCHEMA_VERSION
        with engine.begin() as conn:
            schema_lock(conn)  # another process may be creating the same tables right now
            s.metadata.create_all(conn)
            if store_marker.read(conn) is None:
                conn.execute(text(store_marker.CREATE_ROW))
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
                for statement in migrations.MIGRATIONS.get(target, []):
                    if callable(statement):
                        statement(conn)
                    else:
                        conn.execute(text(statement))
            if version < s.SCHEMA_VERSION:
                conn.execute(
                    update(s.store_meta)
                    .where(s.store_meta.c.key == "schema_version")
                    .values(value=str(s.SCHEMA_VERSION))
                )
            return max(version, s.SCHEMA_VERSION)

    def last_write(self) -> int | None:
        """The store's last-write marker (``resources/store/marker.py``): it moves with every
        committed write, in every process; None on a store that has none yet."""
        with self.engine.connect() as conn:
            return store_marker.read(conn)

    # -- stage partitions -----------------------------------------------------------------------
    def replace_partitions(self, writes: dict[str, pd.DataFrame], days: Sequence[str]) -> None:
        """Replace ``days`` of each named stage table with the frames' rows, atomically."""
        self.replace_partitions_streamed(list(writes), days, [writes])

    def replace_extractions(
        self, names: Sequence[str], days: Sequence[str], chunks: Iterable[dict[str, pd.DataFrame]]
    ) -> None:
        """``replace_partitions_streamed`` for the extractions of ``days`` (``names`` holds
        ``extractions`` and the tables written with it), under the rule *decisions follow
        extractions*: the days' decision times go in the same transaction (``forget_decisions``).
        """
        if "extractions" not in names:
            raise ValueError(f"replace_extractions writes the extractions table, not only {names}")
        self._replace(names, days, chunks, lambda conn: forget_decisions(conn, days))

    def replace_partitions_streamed(
        self, names: Sequence[str], days: Sequence[str], chunks: Iterable[dict[str, pd.DataFrame]]
    ) -> None:
        """Replace ``days`` of the named stage tables with the rows of ``chunks`` (each a dict of
        table name → frame), atomically; a chunk is produced only after the previous one is
        written, so a producer that builds its frames lazily bounds memory by one chunk.

        Other days can be replaced at the same time by other processes, and the producer may
        write to the store itself: PostgreSQL locks only the replaced rows, and on SQLite the
        rows are staged first and the database's write lock is held only to swap them in
        (``resources/store/locking.py``).
        """
        self._replace(names, days, chunks, None)

    def _replace(
        self,
        names: Sequence[str],
        days: Sequence[str],
        chunks: Iterable[dict[str, pd.DataFrame]],
        also: Callable[[Connection], None] | None,
    ) -> None:
        """The replacement of ``replace_partitions_streamed``; ``also`` runs in its transaction,
        before the rows are swapped in."""
        unknown = set(names) - set(s.STAGE_TABLES)
        if unknown:
            raise ValueError(f"unknown stage tables: {sorted(unknown)}")
        if self.backend == "sqlite":
            replace_staged(self.engine, names, days, chunks, also)
            return
        with self.engine.begin() as conn:
            if also is not None:
                also(conn)
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
        insert_frame(conn, table, integer_columns(frame, table), [c.name for c in table.columns])

    def read_stage(
        self, name: str, days: Sequence[str], columns: Sequence[str] | None = None
    ) -> pd.DataFrame:
        """Rows of a stage table for ``days`` (all columns, or only ``columns``), typed by the
        schema the same way on both backends (see ``read_frame``)."""
        table = s.STAGE_TABLES[name]
        picked = [table.c[c] for c in columns] if columns is not None else list(table.columns)
        with self.engine.connect() as conn:
            return read_frame(conn, select(*picked).where(table.c.day.in_(list(days))))

    def key_bounds(self, day: str, size: int) -> list[str]:
        """The last invoice key of each full chunk of ``size`` keys of the day's extraction rows,
        in the database's key order. The day's chunks are then ``(None, b1], (b1, b2], …,
        (bn, None)`` (``read_stage_keys``): each key in exactly one.

        PostgreSQL numbers the day's keys in one sort (``row_number()`` over a sequential scan:
        walking the key index fetches the heap row of every key, a random read each on a table
        just written, 10.8 min for a 10M day). SQLite walks its key index, which holds the keys
        (keyset: ``key > previous bound``, ``OFFSET size - 1``).
        """
        x = s.extractions
        if self.backend == "postgresql":
            # ``invoice_key || ''`` keeps the column's collation (so the order is the one
            # ``key_range`` compares with) but is not indexed: the planner sorts.
            numbered = (
                select(
                    x.c.invoice_key.label("key"),
                    func.row_number().over(order_by=x.c.invoice_key.concat("")).label("n"),
                )
                .where(x.c.day == day)
                .subquery()
            )
            query = select(numbered.c.key).where(numbered.c.n % size == 0).order_by(numbered.c.n)
            with self.engine.connect() as conn:
                return list(map(str, conn.execute(query).scalars()))
        bounds: list[str] = []
        with self.engine.connect() as conn:
            while True:
                query = select(x.c.invoice_key).where(x.c.day == day)
                if bounds:
                    query = query.where(x.c.invoice_key > bounds[-1])
                bound = conn.execute(
                    query.order_by(x.c.invoice_key).offset(size - 1).limit(1)
                ).scalar()
                if bound is None:
                    return bounds
                bounds.append(str(bound))

    def read_stage_keys(
        self,
        name: str,
        day: str,
        after: str | None,
        upto: str | None,
        columns: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Rows of a stage table for ``day`` whose invoice key is in ``(after, upto]`` (an open
        end when None; the chunks of ``key_bounds``), typed like ``read_stage``."""
        table = s.STAGE_TABLES[name]
        picked = [table.c[c] for c in columns] if columns is not None else list(table.columns)
        with self.engine.connect() as conn:
            query = key_range(select(*picked).where(table.c.day == day), table, after, upto)
            return read_frame(conn, query)

    def read_stage_range(
        self, name: str, first_day: str, last_day: str, columns: Sequence[str]
    ) -> pd.DataFrame:
        table = s.STAGE_TABLES[name]
        query = select(*[table.c[c] for c in columns]).where(
            table.c.day.between(first_day, last_day)
        )
        with self.engine.connect() as conn:
            return read_frame(conn, query)

    def mark_decided(self, days: Sequence[str], at: datetime) -> None:
        """Record when the incidents of ``days`` were decided: one ``decisions`` row per day.
        Each invoice's pipeline latency is that time minus its extraction start, computed when
        read (``ReportOps.invoice_facts``)."""
        if not days:
            return
        d = s.decisions
        at_utc = at.astimezone(UTC) if at.tzinfo is not None else at.replace(tzinfo=UTC)
        with self.engine.begin() as conn:
            conn.execute(delete(d).where(d.c.day.in_(list(days))))
            conn.execute(insert(d), [{"day": day, "decided_at": at_utc} for day in days])

    # -- inbox queue ----------------------------------------------------------------------------
    def register_inbox(
        self, day: str, entries: Iterable[InboxEntry], now: datetime | None = None
    ) -> int:
        """Register files for a day (new → received; changed content → received again) at
        ``now`` (default: the system clock).

        Returns the number of files that are new or changed.
        """
        now = SYSTEM_CLOCK.now() if now is None else now
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
                insert_frame(conn, q, pd.DataFrame(new), list(new[0]))
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
            return read_frame(
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
        now: datetime | None = None,
    ) -> None:
        """Move files to ``status`` at ``now`` (default: the system clock); ``items`` maps
        file → (items, failed items)."""
        now = SYSTEM_CLOCK.now() if now is None else now
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
        self,
        stuck_minutes: float,
        since: datetime | None = None,
        until: datetime | None = None,
        now: datetime | None = None,
    ) -> dict[str, Any]:
        """Depth now, max depth in a period, last progress, and whether the queue is stuck at
        ``now`` (default: the system clock)."""
        now = SYSTEM_CLOCK.now() if now is None else now
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
                qs = qs.where(s.queue_samples.c.at >= utc_bound(since))
            if until is not None:
                qs = qs.where(s.queue_samples.c.at < utc_bound(until))
            max_depth = conn.execute(qs).scalar()
        last = as_utc(last)
        return {
            "current_depth": int(depth),
            "max_depth_in_period": int(max(max_depth or 0, depth if since is None else 0)),
            "last_progress_at": last.isoformat() if last else None,
            "stuck_detected": queue_stuck(int(depth), last, now, stuck_minutes),
        }
