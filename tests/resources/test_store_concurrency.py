"""Writers sharing one store (per-day runs in parallel, the API, the sensors), on both backends:
no writer waits for another one's stage work, and a fresh store opened by many processes at once
gets its schema once."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from resources.store import InvoiceStore
from tests.assets.helpers import store_for
from tests.processes import at_once

DAY, OTHER_DAY = "2025-03-04", "2025-03-05"


def _lines(day: str, n: int, qty: float) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "day": day,
            "invoice_key": [f"{day}-{i:05d}" for i in range(n)],
            "line": 0,
            "label": "Aktif enerji",
            "qty": np.full(n, qty),
            "unit": None,
            "unit_price": 3.5,
            "amount_tl": np.nan,
            "confidence": 0.9,
        }
    )


def test_another_day_is_replaced_while_a_day_streams_its_rows(env: dict[str, str]) -> None:
    """The extraction of a day produces its rows for as long as parsing takes; meanwhile another
    day's stage (another run) writes the same tables. On SQLite that write used to wait for the
    whole parse (the write lock was held from the first row) and fail after the busy timeout."""
    store = store_for(env)
    store.ensure_schema()
    store.replace_partitions({"line_items": _lines(DAY, 5, 1.0)}, [DAY])
    other = InvoiceStore(db_url=store.db_url, home=store.home)

    def chunks() -> Iterator[dict[str, pd.DataFrame]]:
        yield {"line_items": _lines(DAY, 20, 2.0).iloc[:10]}
        # Mid-stream: another run replaces its own day, and the queue is written.
        other.replace_partitions({"line_items": _lines(OTHER_DAY, 7, 3.0)}, [OTHER_DAY])
        other.set_inbox_status(OTHER_DAY, [], "done")
        yield {"line_items": _lines(DAY, 20, 2.0).iloc[10:]}

    before = store.last_write()
    store.replace_partitions_streamed(["line_items"], [DAY], chunks())

    # The other run's two writes and this day's swap; staging rows moves nothing.
    assert store.last_write() == (before or 0) + 3
    day = store.read_stage("line_items", [DAY])
    assert sorted(day["invoice_key"]) == [f"{DAY}-{i:05d}" for i in range(20)]
    assert set(day["qty"]) == {2.0}
    assert store.read_stage("line_items", [OTHER_DAY])["qty"].tolist() == [3.0] * 7


def _open_store(db_url: str | None, home: str) -> int:
    store = InvoiceStore(db_url=db_url, home=home)
    return store.ensure_schema()


def test_processes_opening_a_fresh_store_at_once_all_get_one_schema(env: dict[str, str]) -> None:
    """Four processes open an empty store at the same instant (a code server, two run workers
    and the ops API starting together): each used to try CREATE TABLE, and all but one failed.
    The store's engine is made in each child, on first use, so no connection crosses the fork."""
    store = store_for(env)

    outcomes = at_once(_open_store, (store.db_url, store.home), 4)

    assert [status for status, _ in outcomes] == ["ok"] * 4, outcomes
    assert {version for _, version in outcomes} == {store.ensure_schema()}
