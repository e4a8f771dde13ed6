"""Calendar days as the API and the CLI accept them: strict ISO ``YYYY-MM-DD`` in a bounded range.

``parse_day`` is the one reader of a day typed by a person or a client (query parameters,
``--date``/``--to``/``--start``/``--end``): exactly ten ASCII characters, a real calendar day, and
within [``FIRST_DAY``, ``LAST_DAY``]. Nothing is read from a prefix (``2025-03-10garbage`` and
``2025-03-10' OR '1'='1`` are refused, not read as 2025-03-10) and no compact form (``20250310``)
is accepted. The range keeps every window computation finite: reports reach 13 days before a day
and one day after it, which at ``0001-01-01`` or ``9999-12-31`` leaves the calendar
(``OverflowError``); no invoice of this platform predates 2000 nor is dated after 2999.

Not for: which days a pipeline run may materialise (the partitions, ``invoice_assets/partitions``)
or dates inside extraction records (``records.py`` validates those).
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from invoice_assets.domain.errors import DomainError

# An inbox day is a calendar day in Istanbul: partitions, schedules, "today" and "yesterday".
TIMEZONE = "Europe/Istanbul"
FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2999, 12, 31)
_ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class DayError(DomainError):
    """A value that is not an accepted day; the message says what was expected."""

    code = "invalid_day"


def parse_day(value: str, name: str = "date") -> date:
    """The day ``value`` names, or ``DayError`` (strict ``YYYY-MM-DD`` in the accepted range)."""
    if not isinstance(value, str):
        raise DayError(f"{name} must be a day as YYYY-MM-DD, got {type(value).__name__}")
    shown = repr(value[:40]) + ("…" if len(value) > 40 else "")
    if not _ISO_DAY.fullmatch(value):
        raise DayError(f"{name} must be a day as YYYY-MM-DD, got {shown}")
    try:
        day = date.fromisoformat(value)
    except ValueError as exc:
        raise DayError(f"{name} is not a calendar day: {shown}") from exc
    if not FIRST_DAY <= day <= LAST_DAY:
        raise DayError(
            f"{name} must be between {FIRST_DAY.isoformat()} and {LAST_DAY.isoformat()}, "
            f"got {shown}"
        )
    return day


def local_day(moment: datetime) -> date:
    """The inbox day (Istanbul's calendar day) an aware ``moment`` falls on."""
    return moment.astimezone(ZoneInfo(TIMEZONE)).date()


def day_bounds(day: str) -> tuple[datetime, datetime]:
    """[start, end) of an inbox day as aware datetimes in Istanbul time."""
    start = datetime.combine(date.fromisoformat(day), time(0), tzinfo=ZoneInfo(TIMEZONE))
    return start, start + timedelta(days=1)
