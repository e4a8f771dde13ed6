"""The clock as a Dagster resource: the moment assets and sensors stamp what they write.

Unset, it is the machine's clock; ``frozen_at`` (ISO 8601 with an offset) pins it, so a test or a
replay of a day gives the same stamps. It satisfies ``invoice_assets.kernel.clock.Clock``, so
services take it where they take any clock.
"""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg
from pydantic import Field, field_validator

from invoice_assets.kernel.clock import SYSTEM_CLOCK


class ClockResource(dg.ConfigurableResource):
    """What time it is for assets and sensors (``now()``: timezone-aware UTC)."""

    frozen_at: str | None = Field(
        default=None,
        description="Pin the clock to this moment (ISO 8601 with an offset); unset = the "
        "machine's clock.",
    )

    @field_validator("frozen_at")
    @classmethod
    def _aware(cls, value: str | None) -> str | None:
        if value is not None and datetime.fromisoformat(value).tzinfo is None:
            raise ValueError("frozen_at needs a UTC offset (e.g. 2026-12-06T01:00:00+03:00)")
        return value

    def now(self) -> datetime:
        if self.frozen_at is not None:
            return datetime.fromisoformat(self.frozen_at).astimezone(UTC)
        return SYSTEM_CLOCK.now()
