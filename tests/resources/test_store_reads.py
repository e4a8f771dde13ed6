"""The store's read path on SQLite and on PostgreSQL: typed frames built from plain tuples, the
run summary from SQL aggregates, and health reports of many days from one read."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import pairwise

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import insert, select

from invoice_assets.assets.reads import read_invoices
from invoice_assets.domain.days import day_bounds
from invoice_assets.domain.health import system_health_report
from invoice_assets.domain.summary import run_summary
from invoice_assets.services import reporting as reports_module
from invoice_assets.services.reporting import (
    WINDOW_DAYS,
    build_health_report,
    build_health_reports,
    build_run_summary,
    health_window,
)
from resources.store import InvoiceStore
from resources.store import schema as s
from resources.store.cells import read_frame
from resources.thresholds import load_thresholds
from tests.assets.helpers import store_for

DAYS = ["2025-02-01", "2025-02-02", "2025-02-03"]
T0 = datetime(2025, 2, 1, 6, 30, 15, 123_456, tzinfo=UTC)
SUPPLIERS = ["Enerjisa", "CK Boğaziçi", "Uludağ"]


def _store(env: dict[str, str]) -> InvoiceStore:
    store = store_for(env)
    store.ensure_schema()
    return store


def _extractions(day: str, n: int, offset: int) -> pd.DataFrame:
    i = np.arange(n)
    return pd.DataFrame(
        {
            "day": day,
            "invoice_key": [f"{day}-{k:03d}" for k in i],
            "source_file": "batch.jsonl",
            "line_no": pd.array([None if k % 5 == 0 else int(k) for k in i], dtype="Int64"),
            "status": np.where(i % 7 == 0, "failed", "ok"),
            "error_code": [None if k % 7 else "schema_violation" for k in i],
            "supplier": [SUPPLIERS[(k + offset) % 3] for k in i],
            "consumption_kwh": np.where(i % 4 == 0, np.nan, i * 1.5),
            "extraction_ms": np.where(i % 3 == 0, np.nan, 100.0 + i),
            "http_status": pd.array([[None, 200, 429, 500, 200][k % 5] for k in i], dtype="Int64"),
            "started_at": [
                None if k % 9 == 4 else T0 + timedelta(days=offset, seconds=int(k * 7)) for k in i
            ],
        }
    )


def _validations(extractions: pd.DataFrame) -> pd.DataFrame:
    """Every invoice but the last two has a validation row; one extra row has no invoice."""
    x = extractions.iloc[:-2]
    i = np.arange(len(x))
    frame = pd.DataFrame(
        {
            "day": x["day"].to_numpy(),
            "invoice_key": x["invoice_key"].to_numpy(),
            "has_mismatch": np.array(
                [None if k % 11 == 0 else k % 3 == 0 for k in i], dtype=object
            ),
            "mismatch_ratio": np.where(i % 3 == 0, 0.01 * (i % 17), np.nan),
            "suspect_reason": [("OCR_LOCALE_SUSPECT" if k % 4 == 0 else None) for k in i],
            "error_count": pd.array([None if k % 2 else int(k) for k in i], dtype="Int64"),
            "errors_json": [None if k % 2 else "[]" for k in i],
        }
    )
    orphan = {
        "day": x["day"].iloc[0],
        "invoice_key": "no-such-invoice",
        "has_mismatch": True,
        "mismatch_ratio": 0.5,
    }
    return pd.concat([frame, pd.DataFrame([orphan])], ignore_index=True)


def _incident_rows(day: str, offset: int, now: datetime) -> list[dict]:
    rows = []
    for k in range(12):
        feedback = k % 3 == 0
        rows.append(
            {
                "dedupe_key": f"{day}-{k:02d}".ljust(64, "x"),
                "day": day,
                "invoice_key": f"{day}-{k:03d}",
                "tenant": "default",
                "supplier": SUPPLIERS[(k + offset) % 3],
                "severity": "S1" if k % 4 == 0 else "S2",
                "primary_flag": "INVOICE_TOTAL_MISMATCH" if k % 2 else "LOW_CONFIDENCE",
                "secondary_flags": "[]",
                "action_class": ["VERIFY_OCR", "VERIFY_INVOICE_LOGIC", None][k % 3],
                "ocr_suspect": k % 5 == 0,
                "status": "RESOLVED" if k % 2 == 0 else "OPEN",
                "resolved_at": now if k % 2 == 0 else None,
                "occurrence_count": 1,
                "recompute_count": 0,
                "recompute_limit_exceeded": False,
                "first_seen_at": now,
                "last_seen_at": now,
                "created_at": now,
                "updated_at": now,
                # feedback with a hint right, wrong, and not said
                "was_hint_correct": [True, False, None][(k // 3) % 3] if feedback else None,
                "feedback_at": now if feedback else None,
                "resolution_time_seconds": 60.0 * k if feedback else None,
            }
        )
    return rows


def _fill(store: InvoiceStore) -> None:
    now = datetime(2025, 2, 4, 9, 0, tzinfo=UTC)
    for offset, day in enumerate(DAYS):
        x = _extractions(day, 40 + 5 * offset, offset)
        store.replace_partitions({"extractions": x, "validations": _validations(x)}, [day])
        if offset < len(DAYS) - 1:  # the last day is not decided yet: no pipeline latency
            store.mark_decided([day], T0 + timedelta(days=offset, minutes=3))
    with store.engine.begin() as conn:
        for offset, day in enumerate(DAYS):
            conn.execute(insert(s.incidents), _incident_rows(day, offset, now))
    start, _ = day_bounds(DAYS[0])
    for minute, code in enumerate([200, 404, 404, 500, 503, 302, 429]):
        store.log_request(
            "GET", "/x", code, 1.0, None, None, start + timedelta(hours=1, minutes=minute)
        )


def _frame_summary(store: InvoiceStore, first: str, last: str) -> dict:
    """The run summary the one-row-per-item way (the read path before SQL aggregation)."""
    start, _ = day_bounds(first)
    _, end = day_bounds(last)
    r, x = s.request_log, s.extractions
    with store.engine.connect() as conn:
        api = conn.execute(select(r.c.status_code).where(r.c.at >= start, r.c.at < end))
        calls = conn.execute(
            select(x.c.http_status).where(
                x.c.day.between(first, last), x.c.http_status.is_not(None)
            )
        )
        codes = [int(c) for c in [*api.scalars().all(), *calls.scalars().all()]]
    return run_summary(
        start,
        end,
        END_OF_TIME,
        store.invoice_facts(first, last),
        store.incident_frame(first, last),
        pd.Series(codes, dtype="int64"),
        store.queue_state(10, since=start),
    )


END_OF_TIME = datetime(2030, 1, 1, tzinfo=UTC)


def _comparable(summary: dict) -> dict:
    return {k: v for k, v in summary.items() if k != "generated_at"}


def test_stage_reads_have_the_schema_dtypes_on_both_backends(env) -> None:
    store = _store(env)
    x = _extractions(DAYS[0], 10, 0)
    store.replace_partitions({"extractions": x, "validations": _validations(x)}, [DAYS[0]])

    back = store.read_stage("extractions", [DAYS[0]]).sort_values("invoice_key")
    back = back.reset_index(drop=True)
    dtypes = {c: str(t) for c, t in back.dtypes.items()}
    assert dtypes["consumption_kwh"] == "float64"
    assert dtypes["line_no"] == dtypes["http_status"] == "Int64"
    assert dtypes["started_at"] == "datetime64[us, UTC]"
    assert dtypes["supplier"] == dtypes["error_code"] == dtypes["invoice_no"] == "object"
    started = pd.to_datetime(x["started_at"], utc=True)
    assert back["started_at"].isna().tolist() == [k % 9 == 4 for k in range(10)]
    assert back["started_at"].dropna().tolist() == started.dropna().tolist()
    assert back["error_code"].tolist() == [None if k % 7 else "schema_violation" for k in range(10)]
    assert back["invoice_no"].tolist() == [None] * 10  # never written: None, not NaN
    assert back["line_no"].isna().tolist() == [k % 5 == 0 for k in range(10)]
    assert back["http_status"].dropna().tolist() == [200, 429, 500, 200, 200, 429, 500, 200]

    v = store.read_stage("validations", [DAYS[0]]).set_index("invoice_key")
    assert v["has_mismatch"].dtype == bool and v["hard_stop"].dtype == bool
    assert not v.loc[f"{DAYS[0]}-000", "has_mismatch"]  # null → False
    assert v.loc[f"{DAYS[0]}-003", "has_mismatch"]
    assert v["error_count"].dtype == "Int64" and v["mismatch_ratio"].dtype == "float64"

    some = store.read_stage("extractions", [DAYS[0]], ["day", "invoice_key", "started_at"])
    assert list(some.columns) == ["day", "invoice_key", "started_at"]
    empty = store.read_stage("extractions", ["1999-01-01"])
    assert list(empty.columns) == [c.name for c in s.extractions.columns]
    assert {c: str(t) for c, t in empty.dtypes.items()} == dtypes

    invoices = read_invoices(store, [DAYS[0]])
    assert invoices["invoice_key"].is_monotonic_increasing
    assert str(invoices["started_at"].dtype) == "datetime64[us, UTC]"
    assert invoices["extraction_ms"].dtype == "float64"


def test_the_sql_aggregated_run_summary_equals_the_row_by_row_one(env) -> None:
    store = _store(env)
    _fill(store)
    t = load_thresholds()

    for first, last in [(DAYS[0], DAYS[-1]), (DAYS[1], DAYS[1]), ("2024-01-01", "2024-01-02")]:
        aggregated = build_run_summary(store, first, last, t)
        assert _comparable(aggregated) == _comparable(_frame_summary(store, first, last))

    whole = build_run_summary(store, DAYS[0], DAYS[-1], t)
    assert whole["counts"]["total_invoices"] == 40 + 45 + 50  # the orphan validation is not one
    assert whole["counts"]["incident_count"] == 36
    assert whole["counts"]["feedback_count"] == 12
    assert whole["errors"]["by_code"]["404"] == 2
    assert whole["errors"]["total_5xx"] == 1 + 1 + sum(len(range(3, n, 5)) for n in (40, 45, 50))


def test_incident_and_invoice_groups_count_what_the_frames_hold(env) -> None:
    store = _store(env)
    _fill(store)
    facts = store.invoice_facts(DAYS[0], DAYS[-1])
    groups = store.invoice_groups(DAYS[0], DAYS[-1])
    assert dict(zip(groups["has_mismatch"], groups["n"], strict=True)) == {
        True: int(facts["has_mismatch"].sum()),
        False: int((~facts["has_mismatch"]).sum()),
    }
    frame = store.incident_frame(DAYS[0], DAYS[-1])
    assert frame["was_hint_correct"].tolist().count(None) == 36 - 9  # 12 with feedback, 3 unsaid
    grouped = store.incident_groups(DAYS[0], DAYS[-1])
    keys = ["severity", "ocr_suspect", "status", "has_feedback", "was_hint_correct"]
    expected = frame.astype({"was_hint_correct": object}).fillna({"was_hint_correct": "null"})
    got = grouped.fillna({"was_hint_correct": "null"})
    assert expected.groupby(keys).size().to_dict() == got.set_index(keys)["n"].to_dict()
    assert grouped["n"].sum() == len(frame)


@pytest.mark.parametrize("read_days", [31, 2, 1])
def test_health_reports_of_a_range_equal_the_reports_day_by_day(
    env, monkeypatch, read_days: int
) -> None:
    store = _store(env)
    _fill(store)
    t = load_thresholds()
    days = [*DAYS, "2025-02-10", "2025-02-15", "2025-03-20"]
    monkeypatch.setattr(reports_module, "HEALTH_READ_DAYS", read_days)
    reads = []
    facts = InvoiceStore.invoice_facts

    def counted(self: InvoiceStore, *args: object) -> pd.DataFrame:
        reads.append(args)
        return facts(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(InvoiceStore, "invoice_facts", counted)

    reports = build_health_reports(store, days, t)

    assert len(reads) == {31: 2, 2: 5, 1: 6}[read_days]  # one read per run of days
    monkeypatch.undo()

    assert list(reports) == days
    for day in days:
        first, last = health_window(day)
        assert first == (date.fromisoformat(day) - timedelta(days=2 * WINDOW_DAYS - 1)).isoformat()
        expected = system_health_report(
            store.invoice_facts(first, last),
            store.incident_frame(first, last),
            date.fromisoformat(day),
            WINDOW_DAYS,
            t,
        )
        assert reports[day] == expected
        assert build_health_report(store, day, t) == expected
    assert reports[DAYS[-1]]["current"]["total_invoices"] == 135
    assert reports["2025-02-15"]["current"]["total_invoices"] == 0
    assert build_health_reports(store, [], t) == {}


@pytest.mark.parametrize("backend", ["sqlite"])
def test_the_summary_reads_no_row_objects_into_pandas(env, monkeypatch) -> None:
    """The frames are built from plain tuples: pandas never sees a SQLAlchemy ``Row``."""
    from sqlalchemy.engine import Row

    store = _store(env)
    _fill(store)
    seen: list[type] = []
    original = pd.DataFrame.__init__

    def spy(self, data=None, *args, **kwargs):  # type: ignore[no-untyped-def]
        if isinstance(data, list) and data:
            seen.append(type(data[0]))
        original(self, data, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "__init__", spy)
    build_run_summary(store, DAYS[0], DAYS[-1], load_thresholds())
    build_health_reports(store, DAYS, load_thresholds())
    store.read_stage("extractions", DAYS)
    assert not [kind for kind in seen if issubclass(kind, Row)]


@pytest.mark.parametrize("size", [1, 7, 20, 33, 200])
def test_key_bounds_cut_a_day_into_chunks_of_exactly_size_keys(env, size: int) -> None:
    """Every chunk ``(b_i, b_i+1]`` but the last holds exactly ``size`` of the day's keys, in the
    order the key comparisons of ``read_stage_keys`` use; the other day's keys never count."""
    store = _store(env)
    keys = [f"k{k * 7919 % 1000:04d}-{'ab'[k % 2]}" for k in range(100)]  # stored out of order
    x = _extractions(DAYS[0], 100, 0).assign(invoice_key=keys)
    other = _extractions(DAYS[1], 50, 1)
    store.replace_partitions({"extractions": x, "validations": _validations(x)}, [DAYS[0]])
    store.replace_partitions({"extractions": other, "validations": _validations(other)}, [DAYS[1]])
    bounds = store.key_bounds(DAYS[0], size)
    ordered = sorted(keys)
    assert bounds == ordered[size - 1 :: size]
    cuts: list[str | None] = [None, *bounds, None]
    seen: list[str] = []
    for after, upto in pairwise(cuts):
        chunk = store.read_stage_keys("extractions", DAYS[0], after, upto, ["invoice_key"])
        seen += sorted(chunk["invoice_key"])
        assert len(chunk) == (size if upto is not None else len(keys) - len(bounds) * size)
    assert seen == ordered


@pytest.mark.parametrize("batch_rows", [1, 7, 100])
def test_a_read_in_batches_is_the_read_in_one(env, batch_rows: int) -> None:
    """Batches of a few rows (a server-side cursor on PostgreSQL) give the frame one batch gives:
    values, nulls and dtypes of every column; repeated text shares one object per value."""
    store = _store(env)
    x = _extractions(DAYS[0], 60, 0)
    store.replace_partitions({"extractions": x, "validations": _validations(x)}, [DAYS[0]])
    t = s.extractions
    query = select(*t.columns).where(t.c.day == DAYS[0]).order_by(t.c.invoice_key)
    with store.engine.connect() as conn:
        whole = read_frame(conn, query, batch_rows=10_000)
        batched = read_frame(conn, query, batch_rows=batch_rows)
        empty = read_frame(conn, query.where(t.c.day == "1999-01-01"), batch_rows=batch_rows)
    pd.testing.assert_frame_equal(batched, whole)
    assert len(whole) == 60
    assert list(empty.columns) == list(whole.columns)
    assert empty.dtypes.to_dict() == whole.dtypes.to_dict()
    if 2 <= batch_rows < 60:  # the second batch on: one object per supplier name
        suppliers = batched["supplier"].iloc[batch_rows:]
        assert len({id(v) for v in suppliers}) == suppliers.nunique()
