"""Store operations on incidents and operator feedback.

A mixin of ``InvoiceStore`` (``resource.py``): the same engine, split out so each file
stays readable. The decisions (what a rerun changes, what feedback is valid) are the domain's;
this module only reads and writes rows, and makes every status change a compare-and-set: the
pipeline's writes (``write_incidents``) and the operators' (``set_incident_status``,
``put_feedback``) may run at the same time, and neither undoes the other.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sqlalchemy import DateTime, Engine, func, select, update

from invoice_assets.domain.incidents import (
    INCIDENT_COLUMNS,
    RESOLVED,
    STATE_COLUMNS,
    allowed_transition,
)
from resources.store import schema as s
from resources.store.bulk import insert_frame, update_by_key
from resources.store.cells import IN_CHUNK, as_utc, integer_columns, json_text, read_frame
from resources.store.incidents import (
    StatusConflict,
    TransitionRefused,
    reopen,
    reprocessing,
    resolve_vanished,
    serialise_incident_writes,
)

if TYPE_CHECKING:
    from invoice_assets.domain.feedback import Feedback

CONTENT = ("day", "ocr_suspect", *(c for c in INCIDENT_COLUMNS if c != "dedupe_key"))
STATE = STATE_COLUMNS
SEEN = ("last_seen_at", "updated_at")  # what a rerun stamps on a known incident, besides CONTENT
_TIMESTAMPS = frozenset(c.name for c in s.incidents.columns if isinstance(c.type, DateTime))
JSON_COLUMNS = ("secondary_flags", "action_hint", "mismatch_info", "feedback_json")


def key_range(query: Any, table: Any, after: str | None, upto: str | None) -> Any:
    """``query`` restricted to the invoice keys of ``table`` in ``(after, upto]``."""
    if after is not None:
        query = query.where(table.c.invoice_key > after)
    if upto is not None:
        query = query.where(table.c.invoice_key <= upto)
    return query


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for name in JSON_COLUMNS:
        if out.get(name) is not None:
            out[name] = json.loads(out[name])
    for name in _TIMESTAMPS.intersection(out):  # only timestamps: "2025-02-03" (a day) stays text
        out[name] = as_utc(out[name])
    return out


class StoreOps:
    """Incident and feedback operations (mixed into ``InvoiceStore``)."""

    if TYPE_CHECKING:

        @property
        def engine(self) -> Engine: ...

    # -- incidents --------------------------------------------------------------------------
    def incident_state(
        self,
        days: Sequence[str],
        tenant: str,
        *,
        after: str | None = None,
        upto: str | None = None,
    ) -> pd.DataFrame:
        """Stored state of the incidents of the invoices extracted on ``days`` (for
        ``reconcile_incidents``): one query joining on the extraction keys in the database,
        whatever the number of invoices (an incident may date from another day). ``after`` and
        ``upto`` limit it to the invoice keys in ``(after, upto]`` (a chunk of the day)."""
        i, x = s.incidents, s.extractions
        keys = key_range(select(x.c.invoice_key).where(x.c.day.in_(list(days))), x, after, upto)
        query = select(
            i.c.dedupe_key, i.c.invoice_key, i.c.day, *[i.c[c] for c in STATE], i.c.feedback_at
        ).where(i.c.tenant == tenant, i.c.invoice_key.in_(keys))
        return self._read(query)

    def write_incidents(
        self,
        upserts: pd.DataFrame,
        resolved: pd.DataFrame,
        tenant: str,
        now: datetime,
        *,
        max_recompute: float,
    ) -> dict[str, int]:
        """Apply a reconciliation (``reconcile_incidents``) in one transaction.

        New incidents are inserted with their computed state. Known ones get their content,
        ``last_seen_at`` and ``updated_at`` from the frame and their counters incremented in
        SQL; their status, resolution and feedback are never written from the frame (it holds a
        snapshot read before this transaction). The pipeline's only status changes are
        compare-and-sets on the status the snapshot saw: ``reopen`` rows go back to OPEN only
        while still RESOLVED / recompute_resolved without feedback, ``resolved`` rows become
        RESOLVED / recompute_resolved only while still in their ``expected_status``. Incident
        writes of concurrent runs are serialised, so two reruns never insert a key twice.
        Returns the rows inserted, updated and actually resolved.

        An incident stays on the day it was first raised: an update never writes its ``day``,
        and a ``re_arrival`` row (its invoice arrived again on another day) gets only what a
        sighting changes (``SEEN``, the counters, the reopen), not the first day's content.
        """
        i = s.incidents
        counts = {"inserted": 0, "updated": 0, "resolved": 0}
        with self.engine.begin() as conn:
            serialise_incident_writes(conn)
            keys = list(upserts["dedupe_key"]) if len(upserts) else []
            existing: set[str] = set()
            for start in range(0, len(keys), IN_CHUNK):
                existing |= set(
                    conn.execute(
                        select(i.c.dedupe_key).where(
                            i.c.dedupe_key.in_(keys[start : start + IN_CHUNK])
                        )
                    ).scalars()
                )
            # New incidents go through the store's bulk insert (COPY / DB-API executemany), known
            # ones through one set-based update; values are converted column by column.
            if keys:
                frame = upserts.assign(
                    **{
                        c: [json_text(v) for v in upserts[c].tolist()] if c in upserts else None
                        for c in ("secondary_flags", "action_hint", "mismatch_info")
                    },
                    updated_at=now,
                )
                frame = integer_columns(frame, i)
                known = frame["dedupe_key"].isin(existing).to_numpy()
                if (~known).any():
                    new = frame[~known].assign(tenant=tenant, created_at=now)
                    columns = ["dedupe_key", "tenant", "created_at", *CONTENT, *STATE, "updated_at"]
                    insert_frame(conn, i, new, columns)
                    counts["inserted"] = len(new)
                if known.any():
                    seen = frame[known]
                    again = (
                        seen["re_arrival"].fillna(False).astype(bool).to_numpy()
                        if "re_arrival" in seen
                        else np.zeros(len(seen), dtype=bool)
                    )
                    content = [c for c in CONTENT if c != "day"]  # never moves to another day
                    for rows, columns in (
                        (seen[~again], [*content, *SEEN]),
                        (seen[again], list(SEEN)),
                    ):
                        if len(rows):
                            update_by_key(
                                conn, i, "dedupe_key", rows, columns, reprocessing(max_recompute)
                            )
                    flagged = seen.get("reopen")
                    if flagged is not None:
                        back = seen.loc[flagged.fillna(False).astype(bool), "dedupe_key"].tolist()
                        reopen(conn, back, max_recompute)
                    counts["updated"] = int(known.sum())
            counts["resolved"] = resolve_vanished(conn, resolved, now)
        return counts

    def list_incidents(
        self,
        *,
        severity: str | None = None,
        status: str | None = None,
        day: str | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        i = s.incidents
        query = select(i)
        if severity:
            query = query.where(i.c.severity == severity)
        if status:
            query = query.where(i.c.status == status)
        if day:
            query = query.where(i.c.day == day)
        query = query.order_by(i.c.incident_id.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [_decode(dict(r._mapping)) for r in conn.execute(query)]

    def get_incident(self, incident_id: int) -> dict[str, Any] | None:
        i = s.incidents
        with self.engine.connect() as conn:
            row = conn.execute(select(i).where(i.c.incident_id == incident_id)).first()
        return _decode(dict(row._mapping)) if row else None

    def invoice_evidence(self, day: str, invoice_key: str) -> dict[str, Any] | None:
        """Where each field of an invoice was read (masked evidence and page), if recorded."""
        x = s.extractions
        with self.engine.connect() as conn:
            raw = conn.execute(
                select(x.c.evidence_json).where(x.c.day == day, x.c.invoice_key == invoice_key)
            ).scalar()
        return json.loads(raw) if raw else None

    def set_incident_status(
        self,
        incident_id: int,
        status: str,
        reason: str | None,
        now: datetime,
        *,
        expected: str | None = None,
    ) -> dict[str, Any] | None:
        """An operator's transition (SPEC §5.5) as one compare-and-set: the row changes only
        while its status is still ``expected`` (default: the status read now), so of concurrent
        transitions from one status exactly one wins. Returns the updated incident (None if
        there is no such incident); raises ``TransitionRefused`` when the state machine does
        not allow the move from ``expected`` and ``StatusConflict`` when the status moved."""
        i = s.incidents
        row = self.get_incident(incident_id)
        if row is None:
            return None
        current = expected or row["status"]
        problem = allowed_transition(current, status)
        if problem:
            raise TransitionRefused(problem)
        values: dict[str, Any] = {"status": status, "updated_at": now}
        if status == RESOLVED:
            values |= {"resolution_reason": reason, "resolved_at": now}
        with self.engine.begin() as conn:  # the row as this write left it, not as read later
            moved = conn.execute(
                update(i)
                .where(i.c.incident_id == incident_id, i.c.status == current)
                .values(**values)
                .returning(*i.c)
            ).first()
        if moved is None:
            raise StatusConflict(incident_id, current, self._status_of(incident_id))
        return _decode(dict(moved._mapping))

    def put_feedback(
        self, incident_id: int, feedback: Feedback, by: str, now: datetime
    ) -> dict[str, Any] | None:
        """Replace the incident's feedback (upsert); ``by`` and ``now`` come from the server.

        Only while the incident is RESOLVED (checked in the same statement): raises
        ``StatusConflict`` if it is not, None if there is no such incident."""
        i = s.incidents
        doc = feedback.as_dict() | {"feedback_by": by, "feedback_at": now.isoformat()}
        with self.engine.begin() as conn:
            written = conn.execute(
                update(i)
                .where(i.c.incident_id == incident_id, i.c.status == RESOLVED)
                .values(
                    feedback_json=json_text(doc),
                    was_hint_correct=feedback.was_hint_correct,
                    resolution_time_seconds=feedback.resolution_time_seconds,
                    feedback_by=by,
                    feedback_at=now,
                    updated_at=now,
                )
                .returning(*i.c)
            ).first()
        if written is None:
            current = self._status_of(incident_id)
            if current is None:
                return None
            raise StatusConflict(incident_id, RESOLVED, current)
        return _decode(dict(written._mapping))

    def _status_of(self, incident_id: int) -> str | None:
        i = s.incidents
        with self.engine.connect() as conn:
            found = conn.execute(select(i.c.status).where(i.c.incident_id == incident_id)).scalar()
        return None if found is None else str(found)

    def incident_frame(self, first_day: str, last_day: str) -> pd.DataFrame:
        """Incidents of inbox days [first_day, last_day] for reports and summaries."""
        i = s.incidents
        columns = [
            "incident_id",
            "day",
            "supplier",
            "supplier_id",
            "severity",
            "primary_flag",
            "action_class",
            "ocr_suspect",
            "status",
            "was_hint_correct",
            "resolution_time_seconds",
            "feedback_at",
        ]
        query = select(*[i.c[c] for c in columns]).where(i.c.day.between(first_day, last_day))
        frame = self._read(query, nullable=["was_hint_correct"])
        frame["has_feedback"] = frame["feedback_at"].notna()
        return frame

    def incident_groups(self, first_day: str, last_day: str) -> pd.DataFrame:
        """Incidents of the days counted (column ``n``) per the run summary's facts: severity,
        ``ocr_suspect``, status, ``has_feedback`` and ``was_hint_correct``, grouped in the
        database; the same facts as ``incident_frame``, pre-aggregated."""
        from sqlalchemy import Boolean, case, false, true, type_coerce

        i = s.incidents
        has_feedback = case((i.c.feedback_at.is_(None), false()), else_=true())
        keys = [i.c.severity, i.c.ocr_suspect, i.c.status, has_feedback, i.c.was_hint_correct]
        query = (
            select(
                i.c.severity,
                i.c.ocr_suspect,
                i.c.status,
                type_coerce(has_feedback, Boolean).label("has_feedback"),
                i.c.was_hint_correct,
                func.count().label("n"),
            )
            .where(i.c.day.between(first_day, last_day))
            .group_by(*keys)
        )
        return self._read(query, nullable=["was_hint_correct"])

    def _read(self, query: Any, nullable: Sequence[str] = ()) -> pd.DataFrame:
        with self.engine.connect() as conn:
            return read_frame(conn, query, nullable)
