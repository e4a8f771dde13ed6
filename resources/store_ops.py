"""Store operations on incidents, feedback, summaries, alerts, the request log and the cache.

A mixin of ``InvoiceStore`` (``resources/store.py``): the same engine, split out so each file
stays readable. The decisions (what a rerun changes, what feedback is valid) are the domain's;
this module only reads and writes rows.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pandas as pd
from sqlalchemy import DateTime, Engine, delete, func, insert, select, update

from invoice_assets.domain.incidents import INCIDENT_COLUMNS, STATE_COLUMNS
from resources import store_schema as s
from resources.store_io import (
    IN_CHUNK,
    _as_utc,
    _column_values,
    _insert_frame,
    _integer_columns,
    _read_frame,
    _update_by_key,
)

if TYPE_CHECKING:
    from invoice_assets.domain.feedback import Feedback

CONTENT = ("day", "ocr_suspect", *(c for c in INCIDENT_COLUMNS if c != "dedupe_key"))
_FACT_COLUMNS = {
    "day": s.extractions.c.day,
    "supplier": s.extractions.c.supplier,
    "pipeline_total_ms": s.extractions.c.pipeline_total_ms,
    "extraction_ms": s.extractions.c.extraction_ms,
    "has_mismatch": s.validations.c.has_mismatch,
    "mismatch_ratio": s.validations.c.mismatch_ratio,
    "suspect_reason": s.validations.c.suspect_reason,
}
INVOICE_FACTS = tuple(_FACT_COLUMNS)  # what ``invoice_facts`` returns by default
STATE = STATE_COLUMNS
_TIMESTAMPS = frozenset(c.name for c in s.incidents.columns if isinstance(c.type, DateTime))
JSON_COLUMNS = ("secondary_flags", "action_hint", "mismatch_info", "feedback_json")


def _json(value: Any) -> Any:
    if value is None or (isinstance(value, float) and value != value):
        return None
    return json.dumps(value, ensure_ascii=False, default=str)


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for name in JSON_COLUMNS:
        if out.get(name) is not None:
            out[name] = json.loads(out[name])
    for name in _TIMESTAMPS.intersection(out):  # only timestamps: "2025-02-03" (a day) stays text
        out[name] = _as_utc(out[name])
    return out


class StoreOps:
    """Incident, summary, alert and log operations (mixed into ``InvoiceStore``)."""

    if TYPE_CHECKING:

        @property
        def engine(self) -> Engine: ...

    # -- incidents --------------------------------------------------------------------------
    def incident_state(self, days: Sequence[str], tenant: str) -> pd.DataFrame:
        """Stored state of the incidents of the invoices extracted on ``days`` (for
        ``reconcile_incidents``): one query joining on the extraction keys in the database,
        whatever the number of invoices (an incident may date from another day)."""
        i, x = s.incidents, s.extractions
        keys = select(x.c.invoice_key).where(x.c.day.in_(list(days)))
        query = select(i.c.dedupe_key, i.c.invoice_key, *[i.c[c] for c in STATE]).where(
            i.c.tenant == tenant, i.c.invoice_key.in_(keys)
        )
        return self._read(query)

    def write_incidents(
        self, upserts: pd.DataFrame, resolved: pd.DataFrame, tenant: str, now: datetime
    ) -> dict[str, int]:
        """Upsert by dedupe key (operator fields untouched) and resolve vanished incidents."""
        i = s.incidents
        counts = {"inserted": 0, "updated": 0, "resolved": len(resolved)}
        with self.engine.begin() as conn:
            keys = list(upserts["dedupe_key"]) if len(upserts) else []
            existing: set[str] = set()
            for start in range(0, len(keys), 5_000):
                existing |= set(
                    conn.execute(
                        select(i.c.dedupe_key).where(
                            i.c.dedupe_key.in_(keys[start : start + 5_000])
                        )
                    ).scalars()
                )
            # New incidents go through the store's bulk insert (COPY / DB-API executemany), known
            # ones through one set-based update; values are converted column by column.
            if keys:
                frame = upserts.assign(
                    **{
                        c: [_json(v) for v in upserts[c].tolist()] if c in upserts else None
                        for c in ("secondary_flags", "action_hint", "mismatch_info")
                    },
                    updated_at=now,
                )
                frame = _integer_columns(frame, i)
                known = frame["dedupe_key"].isin(existing).to_numpy()
                values = [*CONTENT, *STATE, "updated_at"]
                if (~known).any():
                    new = frame[~known].assign(tenant=tenant, created_at=now)
                    _insert_frame(conn, i, new, ["dedupe_key", "tenant", "created_at", *values])
                    counts["inserted"] = len(new)
                if known.any():
                    _update_by_key(conn, i, "dedupe_key", frame[known], values)
                    counts["updated"] = int(known.sum())
            # Resolutions share their values (one reconcile, one ``now``): one UPDATE … IN (…)
            # per distinct (status, reason, resolved_at), not one per incident.
            groups: dict[tuple[Any, Any, Any], list[str]] = {}
            if len(resolved):
                for key, *state in zip(
                    resolved["dedupe_key"].tolist(),
                    _column_values(resolved["status"]),
                    _column_values(resolved["resolution_reason"]),
                    _column_values(resolved["resolved_at"]),
                    strict=True,
                ):
                    groups.setdefault(tuple(state), []).append(key)  # type: ignore[arg-type]
            for (status, reason, resolved_at), group in groups.items():
                for start in range(0, len(group), IN_CHUNK):
                    conn.execute(
                        update(i)
                        .where(i.c.dedupe_key.in_(group[start : start + IN_CHUNK]))
                        .values(
                            status=status,
                            resolution_reason=reason,
                            resolved_at=resolved_at,
                            recompute_limit_exceeded=False,
                            updated_at=now,
                        )
                    )
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
        self, incident_id: int, status: str, reason: str | None, now: datetime
    ) -> dict[str, Any] | None:
        i = s.incidents
        values: dict[str, Any] = {"status": status, "updated_at": now}
        if status == "RESOLVED":
            values |= {"resolution_reason": reason, "resolved_at": now}
        with self.engine.begin() as conn:
            conn.execute(update(i).where(i.c.incident_id == incident_id).values(**values))
        return self.get_incident(incident_id)

    def put_feedback(
        self, incident_id: int, feedback: Feedback, by: str, now: datetime
    ) -> dict[str, Any] | None:
        """Replace the incident's feedback (upsert); ``by`` and ``now`` come from the server."""
        i = s.incidents
        doc = feedback.as_dict() | {"feedback_by": by, "feedback_at": now.isoformat()}
        with self.engine.begin() as conn:
            conn.execute(
                update(i)
                .where(i.c.incident_id == incident_id)
                .values(
                    feedback_json=_json(doc),
                    was_hint_correct=feedback.was_hint_correct,
                    resolution_time_seconds=feedback.resolution_time_seconds,
                    feedback_by=by,
                    feedback_at=now,
                    updated_at=now,
                )
            )
        return self.get_incident(incident_id)

    def incident_frame(self, first_day: str, last_day: str) -> pd.DataFrame:
        """Incidents of inbox days [first_day, last_day] for reports and summaries."""
        i = s.incidents
        columns = [
            "incident_id",
            "day",
            "supplier",
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

    # -- summaries and reports ----------------------------------------------------------------
    def save_document(self, kind: str, day: str, document: dict[str, Any], now: datetime) -> None:
        table, column = (
            (s.run_summaries, "summary_json")
            if kind == "run_summary"
            else (s.health_reports, "report_json")
        )
        with self.engine.begin() as conn:
            conn.execute(delete(table).where(table.c.day == day))
            conn.execute(
                insert(table).values(day=day, generated_at=now, **{column: _json(document)})
            )

    def load_document(self, kind: str, day: str) -> dict[str, Any] | None:
        table, column = (
            (s.run_summaries, "summary_json")
            if kind == "run_summary"
            else (s.health_reports, "report_json")
        )
        with self.engine.connect() as conn:
            raw = conn.execute(select(table.c[column]).where(table.c.day == day)).scalar()
        return json.loads(raw) if raw else None

    # -- request log and extraction status codes ---------------------------------------------
    def log_request(
        self,
        method: str,
        path: str,
        status_code: int,
        duration_ms: float,
        operator: str | None,
        error_code: str | None,
        at: datetime,
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                insert(s.request_log).values(
                    at=at,
                    method=method,
                    path=path[:500],
                    status_code=status_code,
                    duration_ms=duration_ms,
                    operator=operator,
                    error_code=error_code,
                )
            )

    def request_code_counts(self, start: datetime, end: datetime) -> pd.DataFrame:
        """Status codes of ops API requests in [start, end) counted in the database: columns
        ``code`` and ``n``."""
        r = s.request_log
        query = (
            select(r.c.status_code.label("code"), func.count().label("n"))
            .where(r.c.at >= start, r.c.at < end)
            .group_by(r.c.status_code)
            .order_by(r.c.status_code)
        )
        return self._read(query).astype("int64")

    # -- alerts -------------------------------------------------------------------------------
    def add_alert(
        self, severity: str, code: str, message: str, context: dict[str, Any], now: datetime
    ) -> int:
        with self.engine.begin() as conn:
            result = conn.execute(
                insert(s.alerts).values(
                    created_at=now,
                    severity=severity,
                    code=code,
                    message=message,
                    context_json=_json(context),
                    delivered=False,
                    delivery_attempts=0,
                )
            )
            key = result.inserted_primary_key
            assert key is not None
            return int(key[0])

    def mark_alert_delivery(self, alert_id: int, delivered: bool, error: str | None) -> None:
        a = s.alerts
        with self.engine.begin() as conn:
            conn.execute(
                update(a)
                .where(a.c.alert_id == alert_id)
                .values(
                    delivered=delivered,
                    delivery_attempts=a.c.delivery_attempts + 1,
                    last_error=error,
                )
            )

    def alerts(self, *, undelivered_only: bool = False, limit: int = 100) -> list[dict[str, Any]]:
        a = s.alerts
        query = select(a).order_by(a.c.alert_id.desc()).limit(limit)
        if undelivered_only:
            query = query.where(a.c.delivered.is_(False))
        with self.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(query)]
        for row in rows:
            row["context"] = json.loads(row.pop("context_json"))
        return rows

    def invoice_facts(
        self, first_day: str, last_day: str, columns: Sequence[str] | None = None
    ) -> pd.DataFrame:
        """Per invoice of the days: supplier, latencies and mismatch facts, joined in the database
        (one query, only the columns reports need: all of ``INVOICE_FACTS`` or ``columns``).
        An invoice without validation row has no mismatch; ``ocr_suspect`` comes with
        ``suspect_reason``."""
        x, v = s.extractions, s.validations
        query = (
            select(*[_FACT_COLUMNS[c] for c in (columns or INVOICE_FACTS)])
            .select_from(
                x.outerjoin(v, (v.c.day == x.c.day) & (v.c.invoice_key == x.c.invoice_key))
            )
            .where(x.c.day.between(first_day, last_day))
        )
        frame = self._read(query)
        if "suspect_reason" in frame:
            frame["ocr_suspect"] = frame["suspect_reason"].eq("OCR_LOCALE_SUSPECT")
        return frame

    def invoice_groups(self, first_day: str, last_day: str) -> pd.DataFrame:
        """Invoices of the days counted (column ``n``) per ``has_mismatch`` (True, False): the
        ``invoice_facts`` rows pre-aggregated in the database for the run summary.

        Counted without the per-row join: all extraction rows (the primary-key index alone),
        and the validation rows with a mismatch whose extraction row exists — what the
        left join gives, since (day, invoice_key) matches at most one validation row."""
        x, v = s.extractions, s.validations
        extracted = (
            select(x.c.day).where(x.c.day == v.c.day, x.c.invoice_key == v.c.invoice_key).exists()
        )
        total = (
            select(func.count())
            .select_from(x)
            .where(x.c.day.between(first_day, last_day))
            .scalar_subquery()
        )
        mismatched = (
            select(func.count())
            .select_from(v)
            .where(v.c.day.between(first_day, last_day), v.c.has_mismatch.is_(True), extracted)
            .scalar_subquery()
        )
        with self.engine.connect() as conn:  # one statement: both counts of one snapshot
            counts = conn.execute(select(total, mismatched)).one()
        n_total, n_mismatched = int(counts[0]), int(counts[1])
        return pd.DataFrame(
            {"has_mismatch": [True, False], "n": [n_mismatched, n_total - n_mismatched]}
        )

    def _read(self, query: Any, nullable: Sequence[str] = ()) -> pd.DataFrame:
        with self.engine.connect() as conn:
            return _read_frame(conn, query, nullable)

    def latest_day(self) -> str | None:
        """The newest inbox day with extracted invoices."""
        with self.engine.connect() as conn:
            return conn.execute(select(func.max(s.extractions.c.day))).scalar()

    def incident_counts(self) -> dict[tuple[str, str], int]:
        """(severity, status) → number of incidents."""
        i = s.incidents
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(i.c.severity, i.c.status, func.count()).group_by(i.c.severity, i.c.status)
            ).fetchall()
        return {(r[0], r[1]): int(r[2]) for r in rows}

    def last_activity(self) -> dict[str, Any]:
        """When the last incident was decided and the last extraction started (ISO or None)."""
        with self.engine.connect() as conn:
            incident = conn.execute(select(func.max(s.incidents.c.last_seen_at))).scalar()
            extraction = conn.execute(select(func.max(s.extractions.c.started_at))).scalar()

        return {
            "last_incident_at": _as_utc(incident).isoformat() if incident else None,
            "last_extraction_at": _as_utc(extraction).isoformat() if extraction else None,
        }

    def count_rows(self, table_name: str) -> int:
        table = s.metadata.tables[table_name]
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(table)).scalar_one())
