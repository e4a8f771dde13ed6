"""Alert sink: every alert goes to the ``alerts`` table and the log, and to a Slack-compatible
webhook when ``INVOICE_ALERT_WEBHOOK_URL`` is configured.

An alert is identified by (rule, day, tenant, subject) and raised once: raising it again with the
same value is suppressed (a rerun, a restarted sensor), a changed value updates the stored alert
and is delivered as an update. The alert is stored before delivery is tried, so a failing webhook
never loses it; undelivered alerts are retried by ``retry_undelivered`` (sensors call it on every
tick).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import dagster as dg
import httpx
from pydantic import Field

from invoice_assets.domain.digest import AlertSpec
from invoice_assets.domain.incidents import DEFAULT_TENANT
from invoice_assets.kernel.clock import SYSTEM_CLOCK
from resources.store import InvoiceStore
from resources.store.alerts import CHANGED, NEW

log = logging.getLogger("invoice_assets.alerts")
SEVERITIES = ("INFO", "WARNING", "ERROR", "CRITICAL")
SENT, UPDATED, SUPPRESSED = "sent", "updated", "suppressed"


@dataclass(frozen=True)
class AlertOutcome:
    """What raising one alert did: ``sent`` (new), ``updated`` (its value changed) or
    ``suppressed`` (already raised with this value); ``delivered`` to the webhook or not."""

    alert_id: int
    code: str
    day: str
    outcome: str
    delivered: bool

    def __str__(self) -> str:
        day = f" {self.day}" if self.day else ""
        return f"{self.code}{day} {self.outcome}"


class AlertSink(dg.ConfigurableResource):
    """Stores, logs and (optionally) posts alerts to a webhook, once per alert identity."""

    store: InvoiceStore
    webhook_url: str | None = Field(
        default=None,
        repr=False,  # the URL is the credential of an incoming webhook
        description="Slack-compatible incoming webhook URL; unset = store and log only.",
    )
    timeout_seconds: float = Field(default=5.0, gt=0, description="Per delivery attempt.")
    tenant: str = Field(default=DEFAULT_TENANT, description="The tenant alerts are raised for.")

    def raise_alert(self, spec: AlertSpec, now: datetime | None = None) -> AlertOutcome:
        """Record the alert and deliver it if it is new or its value changed."""
        if spec.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}")
        now = SYSTEM_CLOCK.now() if now is None else now
        recorded = self.store.record_alert(spec, self.tenant, now)
        outcome = {NEW: SENT, CHANGED: UPDATED}.get(recorded.outcome, SUPPRESSED)
        if outcome == SUPPRESSED:
            log.info("alert %s %s suppressed: already raised with this value", spec.code, spec.day)
            return AlertOutcome(recorded.alert_id, spec.code, spec.day, outcome, False)
        level = (
            logging.CRITICAL
            if spec.severity == "CRITICAL"
            else getattr(logging, spec.severity, logging.INFO)
        )
        log.log(
            level,
            "alert %s %s (%s): %s %s",
            spec.severity,
            spec.code,
            outcome,
            spec.message,
            spec.context,
        )
        delivered = self._deliver(
            recorded.alert_id,
            spec.severity,
            spec.code,
            spec.message,
            spec.context,
            recorded.revision,
        )
        return AlertOutcome(recorded.alert_id, spec.code, spec.day, outcome, delivered)

    def raise_alerts(
        self, specs: list[AlertSpec], now: datetime | None = None
    ) -> list[AlertOutcome]:
        return [self.raise_alert(spec, now) for spec in specs]

    def retry_undelivered(self) -> int:
        """Try every undelivered alert again; returns how many were delivered now."""
        if not self.webhook_url:
            return 0
        delivered = 0
        for alert in reversed(self.store.alerts(undelivered_only=True, limit=500)):
            if self._deliver(
                alert["alert_id"],
                alert["severity"],
                alert["code"],
                alert["message"],
                alert["context"],
                int(alert.get("revision") or 1),
            ):
                delivered += 1
        return delivered

    def _deliver(
        self,
        alert_id: int,
        severity: str,
        code: str,
        message: str,
        context: dict[str, Any],
        revision: int,
    ) -> bool:
        if not self.webhook_url:
            return False
        updated = " (updated)" if revision > 1 else ""
        payload = {
            "text": f"[{severity}] {code}{updated}: {message}",
            "attachments": [
                {
                    "fields": [
                        {"title": k, "value": str(v), "short": True} for k, v in context.items()
                    ]
                }
            ],
        }
        try:
            response = httpx.post(self.webhook_url, json=payload, timeout=self.timeout_seconds)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            self.store.mark_alert_delivery(alert_id, False, f"{type(exc).__name__}: {exc}"[:500])
            log.warning("alert %s not delivered (kept for retry): %s", alert_id, type(exc).__name__)
            return False
        self.store.mark_alert_delivery(alert_id, True, None)
        return True
