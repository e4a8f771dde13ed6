"""Benchmark 8 — the PostgreSQL write rate: how many invoices per second the store's database takes
in, from 1, 2 and 4 writers at once (per-day runs on several workers all write one database: this
is the shared ceiling of deploy/README.md "capacity on paper").

Every stage row one invoice leaves is written, through the store's own writes and in the stage
assets' transactions: ``extractions`` + ``line_items`` (one streamed replace), ``validations``,
``offers``, ``quality_scores`` + ``flags``, and the incidents (``write_incidents``). The rows are
synthetic invoices through the real domain ``evaluate`` (``bench.synthetic``), built once and
forked into the writers, so only writing is timed: each writer replaces its own day, all start at
one barrier, and the aggregate rate is all writers' invoices over the wall from the barrier to the
last commit (median of 3 repeats, each on new days). On this box the writers (Python encoding
rows for COPY) and the server share 2 cores, so the figure is a floor for a database on its own
host.

    .venv/bin/python -m bench.pg_write_rate [--quick] [--out result.json]
"""

from __future__ import annotations

import multiprocessing
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from bench.common import (
    cli,
    code_state,
    machine_info,
    median,
    metric,
    postgres_available,
    postgres_database,
    record,
)

NAME = "pg_write_rate"
WRITERS = (1, 2, 4)


def day_frames(per_day: int, seed: int = 0) -> dict[str, Any]:
    """The stage frames of one evaluated day (day column set per writer), and its incidents."""
    from bench.synthetic import synthetic_invoices
    from invoice_assets.domain.pipeline import evaluate
    from resources.market_data import load_market_data
    from resources.thresholds import load_thresholds

    market, t = load_market_data(), load_thresholds()
    invoices, lines = synthetic_invoices(per_day, market, t, seed=seed, prefix="W")
    ev = evaluate(invoices, lines, market, t)
    keys = invoices["invoice_key"].to_numpy()

    def keyed(frame: pd.DataFrame) -> pd.DataFrame:
        out = frame.reset_index(drop=True).copy()
        out.insert(0, "invoice_key", keys)
        return out

    extractions = invoices.copy()
    extractions["extraction_ms"] = np.nan
    extractions["http_status"] = None
    extractions["started_at"] = pd.Timestamp(datetime.now(UTC))
    validations = keyed(pd.concat([ev.breakdown, ev.mismatch, ev.validation], axis=1))
    validations["errors_json"] = "[]"
    validations["warnings_json"] = "[]"
    rows = ev.flags["row"].to_numpy()
    flags = ev.flags.drop(columns=["row"]).assign(invoice_key=keys[rows])
    return {
        "stages": {
            "extractions": extractions,
            "line_items": lines,
            "validations": validations,
            "offers": keyed(ev.offers),
            "quality_scores": keyed(ev.scores),
            "flags": flags,
        },
        "incidents": ev.incidents,
        "invoice_keys": invoices["invoice_key"],
        "thresholds": t,
    }


def write_day(url: str, day: str, frames: dict[str, Any]) -> dict[str, float]:
    """Write one day as the stage assets do; seconds per stage transaction."""
    from invoice_assets.domain.incidents import reconcile_incidents
    from resources.store import InvoiceStore

    store = InvoiceStore(db_url=url)
    stages = {name: f.assign(day=day) for name, f in frames["stages"].items()}
    # Keys unique per day, as real days' invoices are.
    for frame in stages.values():
        frame["invoice_key"] = day + frame["invoice_key"].astype(str)
    seconds: dict[str, float] = {}

    def timed(label: str, write: Any) -> None:
        started = time.perf_counter()
        write()
        seconds[label] = time.perf_counter() - started

    batch = 5_000
    chunks = (
        {
            "extractions": stages["extractions"].iloc[i : i + batch],
            "line_items": stages["line_items"][
                stages["line_items"]["invoice_key"].isin(
                    stages["extractions"]["invoice_key"].iloc[i : i + batch]
                )
            ],
        }
        for i in range(0, len(stages["extractions"]), batch)
    )
    timed(
        "extractions",
        lambda: store.replace_partitions_streamed(["extractions", "line_items"], [day], chunks),
    )
    for names in (["validations"], ["offers"], ["quality_scores", "flags"]):
        timed(names[0], lambda n=names: store.replace_partitions({k: stages[k] for k in n}, [day]))
    computed = frames["incidents"].assign(day=day, ocr_suspect=False)
    computed["invoice_key"] = day + computed["invoice_key"].astype(str)
    computed["dedupe_key"] = day + computed["dedupe_key"].astype(str).str.slice(0, 54)
    now = datetime.now(UTC)
    keys = day + frames["invoice_keys"].astype(str)

    def incidents() -> None:
        existing = store.incident_state([day], "default")
        upserts, resolved = reconcile_incidents(
            existing, computed, keys, pd.Timestamp(now), frames["thresholds"]
        )
        store.write_incidents(upserts, resolved, "default", now)

    timed("incidents", incidents)
    return seconds


def _writer(url: str, day: str, frames: dict[str, Any], barrier: Any, results: Any) -> None:
    barrier.wait(timeout=120)
    started = time.time()
    seconds = write_day(url, day, frames)
    results.put((started, time.time(), seconds))


def measure(url: str, writers: int, frames: dict[str, Any], first_day: int) -> dict[str, Any]:
    context = multiprocessing.get_context("fork")  # the frames are inherited, not pickled
    barrier, results = context.Barrier(writers), context.Queue()
    days = [(date(2025, 7, 1) + timedelta(days=first_day + i)).isoformat() for i in range(writers)]
    procs = [context.Process(target=_writer, args=(url, d, frames, barrier, results)) for d in days]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=900) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    wall = max(o[1] for o in outcomes) - min(o[0] for o in outcomes)
    n = len(frames["invoice_keys"]) * writers
    rows = sum(len(f) for f in frames["stages"].values()) * writers
    # Checked, not just timed: every writer's day is complete in the database.
    from resources.store import InvoiceStore, dispose_engine

    store = InvoiceStore(db_url=url)
    for name, frame in frames["stages"].items():
        stored = store.read_stage(name, days, ["day"])
        assert len(stored) == len(frame) * writers, (name, len(stored), len(frame) * writers)
    incidents = sum(len(store.list_incidents(day=d, limit=10_000_000)) for d in days)
    assert incidents == len(frames["incidents"]) * writers, incidents
    dispose_engine(url)  # before the next fork
    return {
        "writers": writers,
        "wall_s": round(wall, 3),
        "invoices_per_s": round(n / wall, 1),
        "rows_per_s": round(rows / wall, 1),
        "stage_seconds": [{k: round(v, 3) for k, v in o[2].items()} for o in outcomes],
    }


def run(quick: bool = False) -> dict[str, Any]:
    started = time.perf_counter()
    per_day, repeats = (5_000, 1) if quick else (25_000, 3)
    metrics: dict[str, Any] = {}
    details: dict[str, Any] = {
        "invoices_per_writer": per_day,
        "measured": {**code_state(), **machine_info()},
    }
    notes: list[str] = []
    if not postgres_available():
        return record(NAME, started, metrics, details, ["PostgreSQL not reachable: skipped"])
    frames = day_frames(per_day)
    details["rows_per_invoice"] = round(sum(len(f) for f in frames["stages"].values()) / per_day, 2)
    with postgres_database() as url:
        from resources.store import InvoiceStore, dispose_engine

        InvoiceStore(db_url=url).ensure_schema()
        dispose_engine(url)  # no pooled connection may cross the fork into the writers
        next_day = 1
        for writers in WRITERS:
            results = []
            for _ in range(repeats):  # each repeat writes new days (first writes, not rewrites)
                results.append(measure(url, writers, frames, next_day))
                next_day += writers
            details[f"writers_{writers}"] = results
            metrics[f"writers_{writers}_invoices_per_s"] = metric(
                median([r["invoices_per_s"] for r in results]), "invoices/s", "higher"
            )
    notes.append(
        f"{details['rows_per_invoice']} stage rows per invoice (extraction, ~3 line items, "
        "validation, offer, score, flags) plus its incident when it has one"
    )
    return record(NAME, started, metrics, details, notes)


if __name__ == "__main__":
    cli(NAME, run)
