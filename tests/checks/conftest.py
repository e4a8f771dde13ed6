"""Fixtures shared with the domain tests (thresholds and market data from config/)."""

from tests.domain.conftest import market, t

__all__ = ["market", "t"]
