"""What readiness asks of the store: can it answer, can it write, is there room to write.

A mixin of ``InvoiceStore`` (``resource.py``): ``ping_ms`` (a ``SELECT 1``), ``probe_write``
(a committed one-row write, so a read-only database or a full disk shows before a run fails on
it) and ``free_bytes`` (free space on the SQLite file's disk). Not for: judging the answers
(``invoice_assets/services/readiness.py`` does, against Health.*), or the Dagster instance's
storage.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError

from invoice_assets.kernel.clock import SYSTEM_CLOCK
from resources.store import schema as s

PROBE_KEY = "readiness_probe"
SQLITE_BUSY_SECONDS = 30  # how long a SQLite statement waits for another writer's lock


class HealthOps:
    """Readiness probes (mixed into ``InvoiceStore``)."""

    if TYPE_CHECKING:

        @property
        def engine(self) -> Engine: ...

        @property
        def url(self) -> str: ...

    def ping_ms(self) -> float:
        """Round-trip time of ``SELECT 1`` in milliseconds (raises if the database is down)."""
        engine = self.engine  # a first use ensures the schema: before the clock starts
        started = time.perf_counter()
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return (time.perf_counter() - started) * 1000.0

    def probe_write(self) -> bool:
        """Commit a write of one small row: True when it committed, False when SQLite's write
        lock is held by a writer right now (inconclusive, and nothing to wait for: a run may
        hold it for minutes); raises when the database cannot write (read-only, disk full)."""
        meta = s.store_meta
        stamp = SYSTEM_CLOCK.now().isoformat()
        sqlite_db = self.engine.dialect.name == "sqlite"
        dialect = sqlite if sqlite_db else postgresql
        with self.engine.connect() as conn:
            # the driver's own connection: a statement through SQLAlchemy would begin a
            # transaction before the probe's own
            raw = conn.connection.driver_connection
            if sqlite_db and raw is not None:
                raw.execute("PRAGMA busy_timeout = 0")
            try:
                with conn.begin():
                    conn.execute(
                        dialect.insert(meta)
                        .values(key=PROBE_KEY, value=stamp)
                        .on_conflict_do_nothing(index_elements=["key"])
                    )
                    conn.execute(update(meta).where(meta.c.key == PROBE_KEY).values(value=stamp))
            except OperationalError as exc:
                if sqlite_db and "database is locked" in str(exc):
                    return False
                raise
            finally:
                if sqlite_db and raw is not None:  # back to the pool with the usual wait
                    raw.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_SECONDS * 1000}")
        return True

    def free_bytes(self) -> int | None:
        """Free space on the disk of the SQLite file; None for a server database."""
        if not self.url.startswith("sqlite"):
            return None
        path = Path(self.url.split("///", 1)[-1])
        return shutil.disk_usage(path.parent).free
