"""A day's window in the store is Istanbul's calendar day on both backends: SQLite keeps a time
as wall-clock text without its offset, so a window must not shift by three hours there."""

from __future__ import annotations

from datetime import UTC, datetime

from invoice_assets.domain.days import day_bounds
from tests.assets.helpers import store_for


def test_a_request_late_in_the_utc_evening_counts_on_istanbuls_next_day(env, apply_env) -> None:
    apply_env(env)
    store = store_for(env)
    store.ensure_schema()
    late = datetime(2026, 12, 6, 22, 30, tzinfo=UTC)  # 01:30 on the 7th in Istanbul
    store.log_request("GET", "/admin/incidents/1", 404, 1.0, "alice", "incident_not_found", late)

    on_the_7th = store.request_code_counts(*day_bounds("2026-12-07"))
    on_the_6th = store.request_code_counts(*day_bounds("2026-12-06"))

    assert dict(zip(on_the_7th["code"], on_the_7th["n"], strict=True)) == {404: 1}
    assert on_the_6th.empty
