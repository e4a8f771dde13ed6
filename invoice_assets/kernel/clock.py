"""Time, read one way: a ``Clock`` hands out the current moment, timezone-aware in UTC.

Nothing else in the project calls ``datetime.now``: the domain and the store take the moment they
need as ``now``; assets and sensors ask their ``clock`` resource (``resources/clock.py``), the ops
API the clock its app was created with, the CLI and the services ``SYSTEM_CLOCK`` unless handed
another. A test or a replay pins time by handing in a ``FixedClock``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Anything that says what time it is (timezone-aware, UTC)."""

    def now(self) -> datetime: ...


class SystemClock:
    """The machine's clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class FixedClock:
    """A clock that stays where it is put (tests, replays); ``advance`` moves it."""

    at: datetime

    def now(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at = self.at + timedelta(**delta)


SYSTEM_CLOCK: Clock = SystemClock()
