"""What a store holds for some days, minus what differs between two materialisations of the same
input (timestamps, surrogate ids, measured durations): two stores with equal snapshots hold the
same results. Used to compare parallel or distributed runs with one serial run of the same days.

Not compared: the health report (a window over the days before, so it depends on which of them had
landed when it ran) and the run summary's latency and queue sections (wall-clock facts); its
counts and rates are.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from sqlalchemy import DateTime

from resources.store import InvoiceStore
from resources.store import schema as s

# Measured, not computed: how long extracting a record took.
DURATIONS = frozenset({"extraction_ms"})
INCIDENT_VOLATILE = frozenset({"incident_id", "feedback_at"})


def _stable(frame: pd.DataFrame, volatile: set[str], keys: Sequence[str]) -> pd.DataFrame:
    kept = frame.drop(columns=[c for c in frame.columns if c in volatile])
    return kept.sort_values(list(keys), kind="stable").reset_index(drop=True)


def _timestamps(table) -> set[str]:
    return {c.name for c in table.columns if isinstance(c.type, DateTime)}


def store_snapshot(store: InvoiceStore, days: Sequence[str]) -> dict[str, pd.DataFrame]:
    """Stage tables, incidents, queue rows and run-summary figures of ``days``, comparable
    across stores with ``assert_same_snapshot``."""
    out: dict[str, pd.DataFrame] = {}
    for name, table in s.STAGE_TABLES.items():
        keys = [c.name for c in table.primary_key.columns]
        volatile = _timestamps(table) | DURATIONS
        out[name] = _stable(store.read_stage(name, days), volatile, keys)
    incidents = pd.DataFrame(
        [row for day in days for row in store.list_incidents(day=day, limit=10_000_000)]
    )
    out["incidents"] = _stable(
        incidents, _timestamps(s.incidents) | INCIDENT_VOLATILE, ["dedupe_key"]
    )
    queue = store.inbox_files(days)
    out["inbox_files"] = _stable(
        queue, _timestamps(s.inbox_files) | {"file_id", "path"}, ["day", "file_name"]
    )
    figures = []
    for day in days:
        summary = store.load_document("run_summary", day) or {}
        figures.append({"day": day, **summary.get("counts", {}), **summary.get("rates", {})})
    out["run_summary_figures"] = pd.DataFrame(figures)
    return out


def assert_same_snapshot(
    actual: dict[str, pd.DataFrame], expected: dict[str, pd.DataFrame]
) -> None:
    """Equal table by table (a failure names the table); every table of a real run has rows."""
    assert list(actual) == list(expected)
    for name, frame in expected.items():
        assert len(frame), f"{name}: the serial reference holds no rows"
        pd.testing.assert_frame_equal(actual[name], frame, obj=name)
