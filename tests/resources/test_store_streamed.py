"""Streamed partition replacement on SQLite and PostgreSQL: many chunks, one transaction."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest

from resources.store import InvoiceStore
from tests.assets.helpers import store_for

DAY = "2025-03-04"


def _lines(first: int, n: int, day: str = DAY) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "day": day,
            "invoice_key": [f"K{i:07d}" for i in range(first, first + n)],
            "line": 0,
            "label": "Aktif enerji",
            "qty": np.arange(first, first + n, dtype="float64"),
            "unit": None,
            "unit_price": 3.5,
            "amount_tl": np.nan,
            "confidence": 0.9,
        }
    )


def _store(env: dict[str, str]) -> InvoiceStore:
    store = store_for(env)
    store.ensure_schema()
    return store


def test_chunks_replace_the_day_and_are_produced_one_after_another(env) -> None:
    store = _store(env)
    store.replace_partitions({"line_items": _lines(0, 50)}, [DAY])
    store.replace_partitions({"line_items": _lines(0, 4, day="2025-03-05")}, ["2025-03-05"])
    produced: list[int] = []

    def chunks() -> Iterator[dict[str, pd.DataFrame]]:
        for start in (0, 10, 20):
            produced.append(start)
            yield {"line_items": _lines(start, 10)}

    store.replace_partitions_streamed(["line_items"], [DAY], chunks())

    back = store.read_stage("line_items", [DAY]).sort_values("invoice_key")
    assert produced == [0, 10, 20]
    assert back["qty"].tolist() == [float(i) for i in range(30)]
    assert len(store.read_stage("line_items", ["2025-03-05"])) == 4  # other days untouched


def test_a_producer_failing_midway_leaves_the_previous_rows(env) -> None:
    store = _store(env)
    store.replace_partitions({"line_items": _lines(0, 7)}, [DAY])

    def chunks() -> Iterator[dict[str, pd.DataFrame]]:
        yield {"line_items": _lines(100, 10)}
        raise RuntimeError("parser died")

    with pytest.raises(RuntimeError, match="parser died"):
        store.replace_partitions_streamed(["line_items"], [DAY], chunks())

    back = store.read_stage("line_items", [DAY])
    assert sorted(back["invoice_key"]) == [f"K{i:07d}" for i in range(7)]


def test_a_chunk_for_a_table_not_being_replaced_is_refused(env) -> None:
    store = _store(env)
    store.replace_partitions({"line_items": _lines(0, 3)}, [DAY])

    with pytest.raises(ValueError, match="not among the replaced tables"):
        store.replace_partitions_streamed(
            ["line_items"], [DAY], iter([{"extractions": pd.DataFrame({"day": [DAY]})}])
        )
    with pytest.raises(ValueError, match="unknown stage tables"):
        store.replace_partitions_streamed(["nope"], [DAY], iter([]))
    assert len(store.read_stage("line_items", [DAY])) == 3
