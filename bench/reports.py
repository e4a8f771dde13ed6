"""Benchmark 5 — reports: the run summary (SPEC §5.8) and the system health report (§5.6) over a
store holding 30 days × 10k invoices (300k), read exactly as the API, the CLI and the assets read
them (``invoice_assets.services.reporting``).

The store is filled by ``bench.store_data.load_days`` (synthetic invoices through the real domain,
written with the store's own partition and incident writes; no Dagster), on SQLite (the embedded
default) and, when reachable, on PostgreSQL. Reported per backend: the summary over all 30 days
(target ≤ 1 s on SQLite), over one day, and the health report at the last day (a 14-day window),
medians of 3 after one warm-up call. When the SQLite summary misses, a cProfile of it and a read
probe (the store's read vs the same query with rows turned into tuples) are kept as diagnostics.

    .venv/bin/python -m bench.reports [--quick] [--out result.json]
"""

from __future__ import annotations

import os
import time
from datetime import date, timedelta
from typing import Any

from bench.common import (
    cli,
    median,
    metric,
    postgres_available,
    postgres_database,
    profile_top,
    record,
    repeat,
    scratch_dir,
)

NAME = "reports"
TARGET_SUMMARY_S = 1.0


def read_probe(store: Any, first: str, last: str, repeats: int) -> dict[str, Any]:
    """Where the summary's time goes when reading: the store's ``read_stage_range`` (rows handed
    to pandas as SQLAlchemy ``Row`` objects) vs the same query with rows turned into plain tuples
    first. Bench-side diagnostic for the suggested product change; same SQL, same engine."""
    import pandas as pd
    from sqlalchemy import select

    from resources.store import schema as s

    columns = ["day", "invoice_key", "supplier", "started_at", "extraction_ms"]
    table = s.STAGE_TABLES["extractions"]
    query = select(*[table.c[c] for c in columns]).where(table.c.day.between(first, last))

    def fetch() -> list[Any]:
        with store.engine.connect() as conn:
            return conn.execute(query).fetchall()

    def as_rows() -> Any:
        return pd.DataFrame(fetch(), columns=columns)

    def as_tuples() -> Any:
        return pd.DataFrame([tuple(r) for r in fetch()], columns=columns)

    return {
        "rows": len(fetch()),
        "product_read_stage_range_s": round(
            median(
                repeat(lambda: store.read_stage_range("extractions", first, last, columns), repeats)
            ),
            4,
        ),
        "fetchall_only_s": round(median(repeat(fetch, repeats)), 4),
        "dataframe_from_row_objects_s": round(median(repeat(as_rows, repeats)), 4),
        "dataframe_from_tuples_s": round(median(repeat(as_tuples, repeats)), 4),
    }


def measure(
    store: Any, days: list[str], t: Any, label: str, repeats: int, diagnose: bool
) -> dict[str, Any]:
    from invoice_assets.services.reporting import build_health_report, build_run_summary

    first, last = days[0], days[-1]
    summary = build_run_summary(store, first, last, t)  # warm-up (and a sanity look)
    out: dict[str, Any] = {
        "total_invoices": summary["counts"]["total_invoices"],
        "incident_count": summary["counts"]["incident_count"],
    }
    out["summary_all_days_s"] = repeat(lambda: build_run_summary(store, first, last, t), repeats)
    out["summary_one_day_s"] = repeat(lambda: build_run_summary(store, last, last, t), repeats)
    build_health_report(store, last, t)
    out["health_report_s"] = repeat(lambda: build_health_report(store, last, t), repeats)
    missed = median(out["summary_all_days_s"]) > TARGET_SUMMARY_S
    if missed and diagnose:
        out["read_probe"] = read_probe(store, first, last, repeats)
        _, out["profile_summary_all_days"] = profile_top(
            lambda: build_run_summary(store, first, last, t)
        )
    out["backend"] = label
    return out


def run(quick: bool = False) -> dict[str, Any]:
    from bench.store_data import load_days
    from resources.market_data import load_market_data
    from resources.store import InvoiceStore
    from resources.thresholds import load_thresholds

    started = time.perf_counter()
    n_days, per_day = (3, 2_000) if quick else (30, 10_000)
    repeats = 1 if quick else 3
    days = [(date(2025, 5, 1) + timedelta(days=i)).isoformat() for i in range(n_days)]
    market, t = load_market_data(), load_thresholds()
    metrics: dict[str, Any] = {}
    details: dict[str, Any] = {"days": n_days, "invoices_per_day": per_day}
    notes: list[str] = []
    size = f"{n_days}x{per_day // 1_000}k"
    backends: list[tuple[str, Any]] = [("sqlite", None)]
    with scratch_dir(NAME) as work:
        os.environ.pop("INVOICE_DB_URL", None)
        with postgres_database() if postgres_available() else _nothing() as url:
            if url:
                backends.append(("postgres", url))
            for label, db_url in backends:
                store = InvoiceStore(db_url=db_url, home=str(work / label))
                t0 = time.perf_counter()
                loaded = load_days(store, days, per_day, market, t, seed=3)
                load_s = time.perf_counter() - t0
                res = measure(store, days, t, label, repeats, diagnose=label == "sqlite")
                res["load_s"] = round(load_s, 1)
                res["loaded"] = loaded
                details[label] = res
                target = TARGET_SUMMARY_S if label == "sqlite" else None
                metrics[f"{label}_run_summary_{size}_s"] = metric(
                    median(res["summary_all_days_s"]), "s", "lower", target
                )
                metrics[f"{label}_run_summary_1_day_s"] = metric(
                    median(res["summary_one_day_s"]), "s", "lower"
                )
                metrics[f"{label}_health_report_14_days_s"] = metric(
                    median(res["health_report_s"]), "s", "lower"
                )
                for key in ("summary_all_days_s", "summary_one_day_s", "health_report_s"):
                    res[key] = [round(x, 4) for x in res[key]]
                if db_url:
                    from resources.store import dispose_engine

                    dispose_engine(db_url)
    notes.append(
        f"{n_days} days x {per_day} invoices per backend; medians of {repeats} after a warm-up"
    )
    if len(backends) == 1:
        notes.append("PostgreSQL not reachable: SQLite only")
    return record(NAME, started, metrics, details, notes)


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def main() -> None:
    cli(NAME, run)


if __name__ == "__main__":
    main()
