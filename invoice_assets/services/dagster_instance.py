"""Opening the Dagster instance that ``invoice-ops run`` and ``demo`` execute on, when several
processes open it at once (two days run in parallel by two commands, or a command beside
``dagster dev``).

Two races of Dagster 1.13 made one of two simultaneous runs fail before any of our code ran:
- on a fresh ``DAGSTER_HOME`` every process creates the SQLite instance's tables ("table
  alembic_version already exists");
- the first claim of a pool's slot (Dagster's executor, or ``pool_slots.claim_slots`` before a
  CLI run) writes the pool's limit row; on PostgreSQL the second of two runs doing it at once
  aborts its transaction (dagster-io/dagster#33552).
So the instance is opened under an exclusive lock on a file in ``DAGSTER_HOME`` and the pools'
limit rows are written there, once, before any run starts. This covers processes sharing a
``DAGSTER_HOME`` (one machine); a deployment writes the pool limit once at install instead
(``deploy/``: ``dagster instance concurrency set openai 2``).

Not for: executing runs (``invoice_assets.services.materialise``).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg

# The concurrency pools of the code location's assets (``extractions`` runs in ``openai``).
POOLS = ("openai",)


@contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file is closed
        yield


def open_instance(home: Path) -> dg.DagsterInstance:
    """The persistent instance under ``home`` (``DAGSTER_HOME`` is set to it), created and
    given its pools' limits by one process at a time."""
    os.environ["DAGSTER_HOME"] = str(home)
    with _exclusive(home / ".instance.lock"):
        instance = dg.DagsterInstance.get()
        storage = instance.event_log_storage
        if (
            storage.supports_global_concurrency_limits
            and instance.global_op_concurrency_default_limit is not None
        ):
            known = storage.get_concurrency_keys()
            for pool in POOLS:
                if pool not in known:
                    storage.initialize_concurrency_limit_to_default(pool)
    return instance
