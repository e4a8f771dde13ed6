"""The alert sink against a local webhook receiver: delivery, failure, retry."""

from __future__ import annotations

from pathlib import Path

from invoice_assets.domain.digest import AlertSpec
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
        sink.raise_alert(
            AlertSpec("CRITICAL", "S1_RATE_DRIFT", "S1 rate doubled", {"day": "2025-02-03"})
        )

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
        AlertSink(store=store, webhook_url=failing.url).raise_alert(
            AlertSpec("ERROR", "RUN_FAILED", "boom", {}, subject="run-1")
        )
    down = f"http://127.0.0.1:{free_port()}/hook"
    AlertSink(store=store, webhook_url=down).raise_alert(
        AlertSpec("ERROR", "RUN_FAILED", "boom again", {}, subject="run-2")
    )

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
        AlertSink(store=store).raise_alert(
            AlertSpec("WARNING", "RECOMPUTE_LIMIT", "2 incidents", {"incidents": 2})
        )

    (alert,) = store.alerts()
    assert alert["delivered"] is False
    assert alert["context"] == {"incidents": 2}
    assert "RECOMPUTE_LIMIT" in caplog.text


def test_one_identity_is_one_alert_even_with_two_writers_at_once(env: dict[str, str]) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from invoice_assets.services.settings import Settings

    store = Settings.from_env(env).store()
    store.ensure_schema()
    spec = AlertSpec("CRITICAL", "S1_RATE_DRIFT", "S1 doubled", {"r": 1}, day="2025-02-03")
    sinks = [AlertSink(store=store) for _ in range(8)]

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(lambda sink: sink.raise_alert(spec).outcome, sinks))

    assert sorted(outcomes) == ["sent"] + ["suppressed"] * 7
    assert len(store.alerts()) == 1


def test_an_updated_alert_is_delivered_once_more_marked_as_an_update(tmp_path: Path) -> None:
    store = _store(tmp_path)
    with Receiver() as receiver:
        sink = AlertSink(store=store, webhook_url=receiver.url)
        sink.raise_alert(AlertSpec("WARNING", "OCR_SUSPECT_DRIFT", "30%", {}, day="2025-02-03"))
        sink.raise_alert(AlertSpec("WARNING", "OCR_SUSPECT_DRIFT", "30%", {}, day="2025-02-03"))
        sink.raise_alert(AlertSpec("WARNING", "OCR_SUSPECT_DRIFT", "45%", {}, day="2025-02-03"))

    assert [p["text"] for p in receiver.received] == [
        "[WARNING] OCR_SUSPECT_DRIFT: 30%",
        "[WARNING] OCR_SUSPECT_DRIFT (updated): 45%",
    ]
