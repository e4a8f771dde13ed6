"""Store operations on alerts: one row per alert identity, updated when its value changes.

A mixin of ``InvoiceStore`` (``resource.py``). An alert's identity (rule, day, tenant,
subject) and fingerprint come from ``invoice_assets.domain.digest.AlertSpec``; this module keeps
one row per identity, so a rerun or a restarted sensor finds the alert it already raised instead
of adding another, and says whether it is new, changed or unchanged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from resources.store import schema as s
from resources.store.cells import json_text

if TYPE_CHECKING:
    from invoice_assets.domain.digest import AlertSpec

NEW, CHANGED, UNCHANGED = "new", "changed", "unchanged"


@dataclass(frozen=True)
class RecordedAlert:
    alert_id: int
    outcome: str  # NEW, CHANGED or UNCHANGED
    revision: int


class AlertOps:
    """Alert operations (mixed into ``InvoiceStore``)."""

    if TYPE_CHECKING:

        @property
        def engine(self) -> Engine: ...

    def record_alert(self, spec: AlertSpec, tenant: str, now: datetime) -> RecordedAlert:
        """Insert the alert, or update it when what it says changed, or leave it as it is.

        A changed alert is undelivered again (its new value is news); an unchanged one keeps
        its delivery state. Two writers racing on one identity: the unique key lets one insert,
        the other finds its row."""
        key, fingerprint = spec.key(tenant), spec.fingerprint()
        for _ in range(2):
            try:
                return self._record(spec, tenant, key, fingerprint, now)
            except IntegrityError:  # another writer inserted the same identity: read it again
                continue
        raise RuntimeError(f"could not record alert {spec.code} for {spec.day or '-'}")

    def _record(
        self, spec: AlertSpec, tenant: str, key: str, fingerprint: str, now: datetime
    ) -> RecordedAlert:
        a = s.alerts
        with self.engine.begin() as conn:
            query = select(a.c.alert_id, a.c.fingerprint, a.c.revision).where(a.c.alert_key == key)
            if conn.dialect.name == "postgresql":
                query = query.with_for_update()
            row = conn.execute(query).first()
            if row is None:
                result = conn.execute(
                    insert(a).values(
                        alert_key=key,
                        day=spec.day,
                        tenant=tenant,
                        fingerprint=fingerprint,
                        revision=1,
                        created_at=now,
                        updated_at=now,
                        severity=spec.severity,
                        code=spec.code,
                        message=spec.message,
                        context_json=json_text(spec.context),
                        delivered=False,
                        delivery_attempts=0,
                    )
                )
                inserted = result.inserted_primary_key
                assert inserted is not None
                return RecordedAlert(int(inserted[0]), NEW, 1)
            if row.fingerprint == fingerprint:
                return RecordedAlert(int(row.alert_id), UNCHANGED, int(row.revision or 1))
            revision = int(row.revision or 1) + 1
            conn.execute(
                update(a)
                .where(a.c.alert_id == row.alert_id)
                .values(
                    fingerprint=fingerprint,
                    revision=revision,
                    updated_at=now,
                    severity=spec.severity,
                    message=spec.message,
                    context_json=json_text(spec.context),
                    delivered=False,
                    last_error=None,
                )
            )
            return RecordedAlert(int(row.alert_id), CHANGED, revision)

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

    def alerts(
        self,
        *,
        undelivered_only: bool = False,
        day: str | None = None,
        code: str | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """The newest alerts first (filtered by delivery state, day or rule)."""
        a = s.alerts
        query = select(a).order_by(a.c.alert_id.desc()).limit(limit)
        if undelivered_only:
            query = query.where(a.c.delivered.is_(False))
        if day is not None:
            query = query.where(a.c.day == day)
        if code is not None:
            query = query.where(a.c.code == code)
        with self.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(query)]
        for row in rows:
            row["context"] = json.loads(row.pop("context_json"))
        return rows
