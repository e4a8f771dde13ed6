"""Binary COPY into a real PostgreSQL table: every supported type, nulls and edge values."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    select,
)

from resources.store import pg_copy as pg_binary

METADATA = MetaData()
KINDS = Table(
    "kinds",
    METADATA,
    Column("name", String(16)),
    Column("note", Text),
    Column("amount", Float(precision=53)),
    Column("count", Integer),
    Column("flag", Boolean),
    Column("at", DateTime(timezone=True)),
)
TEXTS = [
    "plain",
    "tab\there",
    "new\nline\r\n",
    'quote " and , comma',
    "back\\slash \\N",
    "\\N",
    "",
    "Çukurova Elektrik İşletmesi ğüşöç",
    "emoji 🧾",
]


@pytest.fixture
def engine(pg_url: str):
    engine = create_engine(pg_url)
    METADATA.create_all(engine)
    yield engine
    engine.dispose()


def _load(engine, frame: pd.DataFrame, rows_per_chunk: int = 20_000) -> list[tuple]:
    with engine.begin() as conn:
        raw = conn.connection.dbapi_connection
        cursor = raw.cursor()
        names = ", ".join(f'"{c.name}"' for c in KINDS.columns)
        stream = pg_binary.CopyStream(
            pg_binary.copy_chunks(frame, list(KINDS.columns), rows_per_chunk)
        )
        cursor.copy_expert(f"COPY kinds ({names}) FROM STDIN WITH (FORMAT binary)", stream, 7)
        cursor.close()
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(KINDS).order_by(KINDS.c.name))]


def test_numbers_texts_flags_times_and_nulls_round_trip(engine) -> None:
    n = len(TEXTS)
    frame = pd.DataFrame(
        {
            "name": [f"r{i:02d}" for i in range(n)],
            "note": TEXTS,
            "amount": [0.0, -0.0, 1e308, -1e-300, 5e-324, np.inf, np.nan, 0.1 + 0.2, 1234.5678],
            "count": pd.array([0, -1, 2**31 - 1, -(2**31), None, 7, 8, 9, 10], dtype="Int64"),
            "flag": pd.array([True, False, None, True, False, True, None, False, True], "boolean"),
            "at": pd.to_datetime(
                [
                    "2026-11-29 23:59:59.123456+00:00",
                    "1999-12-31 23:59:59.999999+00:00",
                    "2000-01-01 00:00:00+00:00",
                    "1970-01-01 00:00:00+00:00",
                    None,
                    "2026-06-01 12:00:00+03:00",
                    "2026-06-01 12:00:00+00:00",
                    "2038-01-19 03:14:08+00:00",
                    "2200-01-01 00:00:00.000001+00:00",
                ],
                utc=True,
                format="ISO8601",
            ),
        }
    )

    back = _load(engine, frame, rows_per_chunk=4)

    assert [r[1] for r in back] == TEXTS
    amounts = [r[2] for r in back]
    assert amounts[:6] == [0.0, -0.0, 1e308, -1e-300, 5e-324, np.inf]
    assert amounts[6] is None and amounts[7] == 0.1 + 0.2 and amounts[8] == 1234.5678
    assert [r[3] for r in back] == [0, -1, 2**31 - 1, -(2**31), None, 7, 8, 9, 10]
    assert [r[4] for r in back] == [True, False, None, True, False, True, None, False, True]
    stamps = [r[5] for r in back]
    assert stamps[0] == datetime(2026, 11, 29, 23, 59, 59, 123456, tzinfo=UTC)
    assert stamps[1] == datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    assert stamps[4] is None
    assert stamps[5] == datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
    assert stamps[8] == datetime(2200, 1, 1, 0, 0, 0, 1, tzinfo=UTC)


def test_object_columns_json_documents_and_missing_columns(engine) -> None:
    frame = pd.DataFrame(
        {
            "name": ["a", "b", "c"],
            "note": [{"k": "ç", "n": [1, 2]}, ["x"], None],
            "amount": pd.Series([1, None, 2.5], dtype=object),
            "count": [1.0, np.nan, 3.0],
            "flag": pd.Series([1, 0, None], dtype=object),
            "at": [datetime(2026, 1, 2, 3, 4, 5), None, pd.Timestamp("2026-01-02", tz="UTC")],
        }
    )
    back = _load(engine, frame)
    assert back[0][1] == '{"k": "ç", "n": [1, 2]}'
    assert back[1][1] == '["x"]'
    assert back[2][1] is None
    assert [r[2] for r in back] == [1.0, None, 2.5]
    assert [r[3] for r in back] == [1, None, 3]
    assert [r[4] for r in back] == [True, False, None]
    assert back[0][5] == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)  # naive is UTC
    assert back[1][5] is None

    only_names = _load(engine, pd.DataFrame({"name": ["d"]}))
    assert only_names[-1] == ("d", None, None, None, None, None)


def test_values_the_column_cannot_hold_are_refused_before_loading(engine) -> None:
    with pytest.raises(ValueError, match="32-bit"):
        pg_binary.column_cells(pd.Series([2**31]), Integer())
    with pytest.raises(ValueError, match="non-integral"):
        pg_binary.column_cells(pd.Series([1.5, None], dtype=object), Integer())
    with pytest.raises(ValueError):
        pg_binary.column_cells(pd.Series(["abc"], dtype=object), Float())
