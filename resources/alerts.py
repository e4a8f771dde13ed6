"""Alert sink: every alert goes to the ``alerts`` table and the log, and to a Slack-compatible
webhook when ``INVOICE_ALERT_WEBHOOK_URL`` is configured.

The alert is stored before delivery is tried, so a failing webhook never loses it; undelivered
alerts are retried by ``retry_undelivered`` (the alert sensor calls it on every tick).
"""

from __future__ import annotations

import logging
from typing import Any

import dagster as dg
import httpx
from pydantic import Field

from resources.store import InvoiceStore, utcnow

log = logging.getLogger("invoice_assets.alerts")
SEVERITIES = ("INFO", "WARNING", "ERROR", "CRITICAL")


class AlertSink(dg.ConfigurableResource):
    """Stores, logs and (optionally) posts alerts to a webhook."""

    store: InvoiceStore
    webhook_url: str | None = Field(
        default=None,
        description="Slack-compatible incoming webhook URL; unset = store and log only.",
    )
    timeout_seconds: float = Field(default=5.0, gt=0, description="Per delivery attempt.")

    def send(self, severity: str, code: str, message: str, context: dict[str, Any]) -> int:
        """Record an alert, log it and try to deliver it; returns the alert id."""
        if severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}")
        self.store.ensure_schema()
        alert_id = self.store.add_alert(severity, code, message, context, utcnow())
        level = (
            logging.CRITICAL if severity == "CRITICAL" else getattr(logging, severity, logging.INFO)
        )
        log.log(level, "alert %s %s: %s %s", severity, code, message, context)
        self._deliver(alert_id, severity, code, message, context)
        return alert_id

    def retry_undelivered(self) -> int:
        """Try every undelivered alert again; returns how many were delivered now."""
        if not self.webhook_url:
            return 0
        self.store.ensure_schema()  # a sensor may tick before the first run created the tables
        delivered = 0
        for alert in reversed(self.store.alerts(undelivered_only=True, limit=500)):
            if self._deliver(
                alert["alert_id"],
                alert["severity"],
                alert["code"],
                alert["message"],
                alert["context"],
            ):
                delivered += 1
        return delivered

    def _deliver(
        self, alert_id: int, severity: str, code: str, message: str, context: dict[str, Any]
    ) -> bool:
        if not self.webhook_url:
            return False
        payload = {
            "text": f"[{severity}] {code}: {message}",
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
