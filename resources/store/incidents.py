"""The SQL of the incident writes that race each other: a rerun's and an operator's.

What it is for: ``write_incidents`` (``ops.py``) applies a reconciliation decided from a
snapshot read before its transaction, while operators change statuses and give feedback. So the
pipeline's writes are serialised with each other (``serialise_incident_writes``), its counters are
incremented in SQL (``reprocessing``), and every status change, the pipeline's and the
operators', is a compare-and-set on the status it expects (``resolve_vanished``,
``StatusConflict``). Not for: deciding what changes (``invoice_assets.domain.incidents``), or
reading incidents (``ops.py``).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import case, literal, text, update
from sqlalchemy.engine import Connection

from invoice_assets.domain.incidents import (
    OPEN,
    RECOMPUTE_RESOLVED,
    RESOLVED,
    past_recompute_limit,
)
from resources.store import schema as s
from resources.store.cells import IN_CHUNK, column_values

_INCIDENT_WRITES_LOCK = zlib.crc32(b"invoice_assets.incidents")  # PostgreSQL advisory lock key


class TransitionRefused(ValueError):
    """The state machine does not allow this move from the expected status."""


class StatusConflict(Exception):
    """The incident was not in the status a change expected: it moved meanwhile."""

    def __init__(self, incident_id: int, expected: str, actual: str | None) -> None:
        super().__init__(
            f"incident {incident_id} is {actual}, not {expected}: it changed meanwhile; "
            "nothing was written (read it again and retry)"
        )
        self.incident_id, self.expected, self.actual = incident_id, expected, actual


def serialise_incident_writes(conn: Connection) -> None:
    """Hold the incident-write lock until ``conn``'s transaction ends (another run's
    ``write_incidents`` waits): PostgreSQL an advisory lock; SQLite its write lock, taken by a
    write that changes nothing, so the reads that follow already see the latest state."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _INCIDENT_WRITES_LOCK})
    else:
        meta = s.store_meta
        conn.execute(update(meta).where(meta.c.key == "schema_version").values(value=meta.c.value))


def _chunks(keys: Sequence[str]) -> list[Sequence[str]]:
    return [keys[start : start + IN_CHUNK] for start in range(0, len(keys), IN_CHUNK)]


def reprocessing(max_recompute: float) -> dict[str, Any]:
    """What a rerun computes on a known incident from its row as it is, in SQL (never read and
    written back): one more occurrence; one more recompute while unresolved (SPEC §5.5); the
    recompute limit evaluated on the new count."""
    i = s.incidents
    recomputes = i.c.recompute_count + case((i.c.status != RESOLVED, 1), else_=0)
    return {
        "occurrence_count": i.c.occurrence_count + 1,
        "recompute_count": recomputes,
        "recompute_limit_exceeded": past_recompute_limit(recomputes, i.c.status, max_recompute),
    }


def reopen(conn: Connection, keys: Sequence[str], max_recompute: float) -> None:
    """``recompute_resolved`` incidents whose flags came back are OPEN again, each only while
    still RESOLVED / recompute_resolved and without an operator's feedback (compare-and-set)."""
    i = s.incidents
    for chunk in _chunks(keys):
        conn.execute(
            update(i)
            .where(
                i.c.dedupe_key.in_(chunk),
                i.c.status == RESOLVED,
                i.c.resolution_reason == RECOMPUTE_RESOLVED,
                i.c.feedback_at.is_(None),
            )
            .values(
                status=OPEN,
                resolution_reason=None,
                resolved_at=None,
                recompute_limit_exceeded=past_recompute_limit(
                    i.c.recompute_count, literal(OPEN), max_recompute
                ),
            )
        )


def resolve_vanished(conn: Connection, resolved: pd.DataFrame, now: datetime) -> int:
    """Incidents whose flags disappeared become RESOLVED / recompute_resolved, each only while
    still in the status the reconciliation saw; returns how many did. Resolutions share their
    values (one reconcile, one ``now``): one UPDATE … IN (…) per distinct (expected status,
    status, reason, resolved_at), not one per incident."""
    i = s.incidents
    groups: dict[tuple[Any, ...], list[str]] = {}
    if len(resolved):
        for key, *state in zip(
            resolved["dedupe_key"].tolist(),
            column_values(resolved["expected_status"]),
            column_values(resolved["status"]),
            column_values(resolved["resolution_reason"]),
            column_values(resolved["resolved_at"]),
            strict=True,
        ):
            groups.setdefault(tuple(state), []).append(key)
    done = 0
    for (expected, status, reason, resolved_at), group in groups.items():
        for chunk in _chunks(group):
            done += conn.execute(
                update(i)
                .where(i.c.dedupe_key.in_(chunk), i.c.status == expected)
                .values(
                    status=status,
                    resolution_reason=reason,
                    resolved_at=resolved_at,
                    recompute_limit_exceeded=False,
                    updated_at=now,
                )
            ).rowcount
    return done
