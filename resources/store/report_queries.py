"""Store operations behind the reports and the ops surface: run summaries and health reports,
the ops API request log, the per-invoice facts reports aggregate, the counts the alert digest
reads, and the small reads readiness and ``/metrics`` make.

A mixin of ``InvoiceStore`` (``resources/store/resource.py``) next to ``StoreOps`` (incidents and
feedback): the same engine, split out so each file stays readable. What a report says is decided
in ``invoice_assets/services/reporting.py`` and the domain; this module only reads and writes rows.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, delete, func, insert, or_, select

from resources.store import schema as s
from resources.store.cells import as_utc, json_text, utc_bound
from resources.store.marker import quiet_write

_VALIDATION_FACTS = ("has_mismatch", "mismatch_ratio", "suspect_reason")

_FACT_COLUMNS: dict[str, Any] = {
    "day": s.extractions.c.day,
    "invoice_key": s.extractions.c.invoice_key,
    "supplier": s.extractions.c.supplier,
    "supplier_id": s.extractions.c.supplier_id,
    "started_at": s.extractions.c.started_at,
    "extraction_ms": s.extractions.c.extraction_ms,
    "http_status": s.extractions.c.http_status,
    "has_mismatch": s.validations.c.has_mismatch,
    "mismatch_ratio": s.validations.c.mismatch_ratio,
    "suspect_reason": s.validations.c.suspect_reason,
}
# what ``invoice_facts`` returns by default (the other columns on request); pipeline_total_ms is
# not stored: the day's decision time − the extraction start (see ``_latencies``)
INVOICE_FACTS = ("day", "supplier", "pipeline_total_ms", "extraction_ms", *_VALIDATION_FACTS)


class ReportOps:
    """Summary, report, request-log and activity operations (mixed into
    ``InvoiceStore``)."""

    if TYPE_CHECKING:

        @property
        def engine(self) -> Engine: ...

        def _read(self, query: Any, nullable: Sequence[str] = ()) -> pd.DataFrame: ...

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
                insert(table).values(day=day, generated_at=now, **{column: json_text(document)})
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
            if status_code < 400:  # only errors count in a report (run summary errors.by_code)
                quiet_write(conn)
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
            .where(r.c.at >= utc_bound(start), r.c.at < utc_bound(end))
            .group_by(r.c.status_code)
            .order_by(r.c.status_code)
        )
        return self._read(query).astype("int64")

    def invoice_facts(
        self, first_day: str, last_day: str, columns: Sequence[str] | None = None
    ) -> pd.DataFrame:
        """Per invoice of the days: supplier, latencies and mismatch facts, joined in the database
        (one query, only the columns reports need: all of ``INVOICE_FACTS`` or ``columns``).
        An invoice without validation row has no mismatch; ``ocr_suspect`` comes with
        ``suspect_reason``."""
        x, v = s.extractions, s.validations
        wanted = list(columns or INVOICE_FACTS)
        latency = "pipeline_total_ms" in wanted
        read = [c for c in wanted if c != "pipeline_total_ms"]
        read += [c for c in ("day", "started_at") if latency and c not in read]
        source: Any = x  # joined only to what the columns need
        if set(_VALIDATION_FACTS).intersection(wanted):
            source = source.outerjoin(
                v, (v.c.day == x.c.day) & (v.c.invoice_key == x.c.invoice_key)
            )
        query = (
            select(*[_FACT_COLUMNS[c] for c in read])
            .select_from(source)
            .where(x.c.day.between(first_day, last_day))
        )
        frame = self._read(query)
        if latency:
            frame["pipeline_total_ms"] = self._latencies(frame, first_day, last_day)
            frame = frame[wanted]
        if "suspect_reason" in frame:
            frame["ocr_suspect"] = frame["suspect_reason"].eq("OCR_LOCALE_SUSPECT")
        return frame

    def _latencies(self, facts: pd.DataFrame, first_day: str, last_day: str) -> np.ndarray:
        """Milliseconds from each invoice's extraction start to its day's decision, never below
        0, NaN when either is unknown; exact to the microsecond (datetime64[us] arithmetic). The
        days' decision times are one small query; per invoice it is a vector subtraction."""
        d = s.decisions
        decided = self._read(
            select(d.c.day, d.c.decided_at).where(d.c.day.between(first_day, last_day))
        )
        out = np.full(len(facts), np.nan)
        if decided.empty or facts.empty:
            return out
        utc = "datetime64[us]"  # both columns are UTC: compared as plain microseconds
        at = pd.Series(decided["decided_at"].to_numpy(dtype=utc), index=decided["day"].to_numpy())
        at = at.reindex(facts["day"].to_numpy())  # NaT for a day not decided
        elapsed = at.to_numpy(dtype=utc) - facts["started_at"].to_numpy(dtype=utc)
        known = ~(np.isnat(elapsed))
        out[known] = np.maximum(elapsed[known] / np.timedelta64(1, "ms"), 0.0)
        return out

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

    def re_arrival_count(self, first_day: str, last_day: str) -> int:
        """Invoices of the days whose incident belongs to another day: the same invoice arrived
        again (its incident stays on the day it was first raised, SPEC §5.5). The same count as
        the ``incidents`` asset's ``re_arrival_count`` of each day (``domain.re_arrivals``)."""
        x, i = s.extractions, s.incidents
        elsewhere = (
            select(i.c.incident_id)
            .where(i.c.invoice_key == x.c.invoice_key, i.c.day != x.c.day)
            .exists()
        )
        query = (
            select(func.count())
            .select_from(x)
            .where(x.c.day.between(first_day, last_day), elsewhere)
        )
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def digest_counts(self, first_day: str, last_day: str) -> dict[str, int]:
        """The counts the Alert.* rules read, over inbox days [first_day, last_day]."""
        i, x = s.incidents, s.extractions
        in_days = i.c.day.between(first_day, last_day)
        with self.engine.connect() as conn:
            incidents = conn.execute(select(func.count()).where(in_days)).scalar_one()
            calc_bug = conn.execute(
                select(func.count()).where(in_days, i.c.primary_flag == "CALC_BUG")
            ).scalar_one()
            past_limit = conn.execute(
                select(func.count()).where(
                    i.c.recompute_limit_exceeded.is_(True), i.c.status != "RESOLVED"
                )
            ).scalar_one()
            # an exhausted invoice was attempted (max_attempts times) though no call was made today
            attempted = conn.execute(
                select(func.count()).where(
                    x.c.day.between(first_day, last_day),
                    or_(x.c.extraction_ms.is_not(None), x.c.error_code == "exhausted"),
                )
            ).scalar_one()
            exhausted = conn.execute(
                select(func.count()).where(
                    x.c.day.between(first_day, last_day), x.c.error_code == "exhausted"
                )
            ).scalar_one()
        return {
            "incidents": int(incidents),
            "calc_bug_incidents": int(calc_bug),
            "recompute_limit_exceeded": int(past_limit),
            "extraction_attempted": int(attempted),
            "extraction_exhausted": int(exhausted),
        }

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
            "last_incident_at": as_utc(incident).isoformat() if incident else None,
            "last_extraction_at": as_utc(extraction).isoformat() if extraction else None,
        }

    def count_rows(self, table_name: str) -> int:
        table = s.metadata.tables[table_name]
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(table)).scalar_one())
