"""The alert sink against a local webhook receiver: delivery, failure, retry."""

from __future__ import annotations

from pathlib import Path

from resources.alerts import AlertSink
from resources.store import InvoiceStore
from tests.api.server import free_port
from tests.webhook import Receiver


def _store(tmp_path: Path) -> InvoiceStore:
    store = InvoiceStore(home=str(tmp_path))
    store.ensure_schema()
    return store


def test_an_alert_is_stored_and_delivered_to_the_webhook(tmp_path: Path) -> None:
    store = _store(tmp_path)
    with Receiver() as receiver:
        sink = AlertSink(store=store, webhook_url=receiver.url)
        sink.send("CRITICAL", "S1_RATE_DRIFT", "S1 rate doubled", {"day": "2025-02-03"})

    (alert,) = store.alerts()
    assert alert["delivered"] is True
    assert alert["delivery_attempts"] == 1
    (payload,) = receiver.received
    assert payload["text"] == "[CRITICAL] S1_RATE_DRIFT: S1 rate doubled"
    assert payload["attachments"][0]["fields"] == [
        {"title": "day", "value": "2025-02-03", "short": True}
    ]


def test_a_failing_webhook_never_loses_the_alert_and_it_is_retried(tmp_path: Path) -> None:
    store = _store(tmp_path)
    with Receiver(status=500) as failing:
        AlertSink(store=store, webhook_url=failing.url).send("ERROR", "RUN_FAILED", "boom", {})
    down = f"http://127.0.0.1:{free_port()}/hook"
    AlertSink(store=store, webhook_url=down).send("ERROR", "RUN_FAILED", "boom again", {})

    assert [a["delivered"] for a in store.alerts()] == [False, False]
    assert all(a["last_error"] for a in store.alerts())

    with Receiver() as receiver:
        delivered = AlertSink(store=store, webhook_url=receiver.url).retry_undelivered()

    assert delivered == 2
    assert [p["text"] for p in receiver.received] == [
        "[ERROR] RUN_FAILED: boom",
        "[ERROR] RUN_FAILED: boom again",
    ]
    assert all(a["delivered"] for a in store.alerts())


def test_without_a_webhook_alerts_are_stored_and_logged(tmp_path: Path, caplog) -> None:
    store = _store(tmp_path)
    with caplog.at_level("WARNING", logger="invoice_assets.alerts"):
        AlertSink(store=store).send("WARNING", "RECOMPUTE_LIMIT", "2 incidents", {"incidents": 2})

    (alert,) = store.alerts()
    assert alert["delivered"] is False
    assert alert["context"] == {"incidents": 2}
    assert "RECOMPUTE_LIMIT" in caplog.text
