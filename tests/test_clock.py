"""One way to read time: ``kernel.clock`` (the system clock, or one handed in), the clock resource
of assets and sensors, and the ops API's app clock. A pinned clock decides what "today" is."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import pytest
import uvicorn
from pydantic import ValidationError

from invoice_assets.api import create_app
from invoice_assets.api.settings import ApiSettings, hash_token
from invoice_assets.domain.days import day_bounds, local_day
from invoice_assets.kernel.clock import SYSTEM_CLOCK, FixedClock
from resources.clock import ClockResource
from resources.store import InvoiceStore
from tests.api.server import free_port

TOKEN = "clock-test-token"


def test_the_inbox_day_of_a_moment_is_istanbuls_calendar_day() -> None:
    late_evening_utc = datetime(2026, 12, 5, 21, 30, tzinfo=UTC)  # 00:30 on the 6th in Istanbul

    assert local_day(late_evening_utc) == date(2026, 12, 6)
    assert local_day(datetime(2026, 12, 5, 20, 59, tzinfo=UTC)) == date(2026, 12, 5)
    start, end = day_bounds("2026-12-06")
    assert start <= late_evening_utc < end


def test_a_fixed_clock_stays_until_advanced_and_the_system_clock_is_aware() -> None:
    clock = FixedClock(datetime(2026, 12, 6, 1, 0, tzinfo=UTC))
    assert clock.now() == clock.now() == datetime(2026, 12, 6, 1, 0, tzinfo=UTC)
    clock.advance(minutes=90)
    assert clock.now() == datetime(2026, 12, 6, 2, 30, tzinfo=UTC)
    assert SYSTEM_CLOCK.now().tzinfo is not None


def test_the_clock_resource_is_the_system_clock_unless_pinned() -> None:
    before = datetime.now(UTC)
    assert before <= ClockResource().now() <= datetime.now(UTC)
    pinned = ClockResource(frozen_at="2026-12-06T01:00:00+03:00")
    assert pinned.now() == datetime(2026, 12, 5, 22, 0, tzinfo=UTC)
    with pytest.raises(ValidationError, match="needs a UTC offset"):  # naive: ambiguous
        ClockResource(frozen_at="2026-12-06T01:00:00")


@contextmanager
def _served(app: object) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = datetime.now(UTC).timestamp() + 20
        while not server.started:
            assert datetime.now(UTC).timestamp() < deadline, "server did not start"
            threading.Event().wait(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)


def test_the_api_says_today_by_its_clock_in_istanbul_time(tmp_path: Path) -> None:
    store = InvoiceStore(home=str(tmp_path))
    store.ensure_schema()
    # 23:30 UTC on the 5th is 02:30 on the 6th in Istanbul: "today" is the 6th, not the 5th.
    clock = FixedClock(datetime(2026, 12, 5, 23, 30, tzinfo=UTC))
    settings = ApiSettings(store=store, operators={hash_token(TOKEN): "alice"}, env={})
    with _served(create_app(settings, clock=clock)) as base:
        answer = httpx.get(
            f"{base}/admin/system-health", headers={"Authorization": f"Bearer {TOKEN}"}
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["window"]["end"] == "2026-12-06"

        clock.advance(hours=24)
        again = httpx.get(
            f"{base}/admin/system-health", headers={"Authorization": f"Bearer {TOKEN}"}
        )
        assert again.json()["window"]["end"] == "2026-12-07"
    logged = store.request_code_counts(*day_bounds("2026-12-06"))
    assert int(logged["n"].sum()) == 1  # the first request, logged at the clock's 6th
