"""Benchmark — Materialize from the UI against the daily job, for the same day.

The webserver and daemon on a throwaway home (``bench/dagster_ui.py``); one demo day of
invoices; then, alternating, the UI's Materialize of every asset of that day (Dagster's implicit
asset job, with the assets' checks, as the asset graph page launches it) and a launch of
``daily_invoices`` for the same day. Wall time is the run's own start → end (the queue wait is
the daemon's polling, not the run). Target: Materialize ≤ 1.5 × the job (issue 12; before the
code location set a default executor, Materialize ran one subprocess per step: ~5×).

    .venv/bin/python -m bench.ui_materialize [--quick] [--out result.json]
"""

from __future__ import annotations

import os
import time
from typing import Any

from bench.common import cli, median, metric, record, scratch_dir
from bench.dagster_ui import IMPLICIT_JOB, DagsterUI

NAME = "ui_materialize"
TARGET_SLOWDOWN = 1.5
DAY = "2026-11-02"
CHECKS = [
    (["extractions"], "extractions_expectations"),
    (["offers"], "offers_expectations"),
    (["incidents"], "smoke_fixture_expectations"),
    (["run_summary"], "run_summary_schema"),
    (["system_health_report"], "s1_rate_drift"),
    (["system_health_report"], "ocr_suspect_rate_drift"),
    (["system_health_report"], "mismatch_rate_drift"),
]


def _wall(run: dict[str, Any]) -> float:
    return float(run["endTime"]) - float(run["startTime"])


def run(quick: bool = False) -> dict[str, Any]:
    from invoice_assets.demo import generate_demo

    started = time.perf_counter()
    repeats = 1 if quick else 3
    invoices = 200 if quick else 2_000
    with scratch_dir(NAME) as home:
        generate_demo(home / "inbox", [DAY], invoices, seed=3)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("INVOICE_", "OPENAI_"))}
        env |= {"INVOICE_HOME": str(home), "INVOICE_PARTITIONS_START": "2026-11-01"}
        with DagsterUI(home, env) as ui:
            ui.start_webserver()
            ui.stop_sensors()
            ui.start_daemon()
            keys = ui.asset_keys()
            ui.wait_run(ui.launch_run("daily_invoices", DAY))  # warm: first extraction, caches
            materialize, job = [], []
            for _ in range(repeats):
                m = ui.wait_run(ui.launch_run(IMPLICIT_JOB, DAY, keys, CHECKS))
                j = ui.wait_run(ui.launch_run("daily_invoices", DAY))
                if m["status"] != "SUCCESS" or j["status"] != "SUCCESS":
                    raise RuntimeError(f"runs failed: {m['status']} / {j['status']}")
                materialize.append(_wall(m))
                job.append(_wall(j))
    ratio = median(materialize) / median(job)
    metrics = {
        "ui_materialize_day_s": metric(median(materialize), "s", "lower"),
        "daily_job_day_s": metric(median(job), "s", "lower"),
        "materialize_over_job_ratio": metric(ratio, "x", "lower", TARGET_SLOWDOWN),
    }
    details = {
        "invoices": invoices,
        "materialize_s": [round(x, 2) for x in materialize],
        "job_s": [round(x, 2) for x in job],
    }
    notes = [
        f"{invoices} demo invoices on {DAY}; median of {repeats} alternating pairs, each run's "
        "own start → end (webserver + daemon, SQLite store, QueuedRunCoordinator)"
    ]
    return record(NAME, started, metrics, details, notes)


def main() -> None:
    cli(NAME, run)


if __name__ == "__main__":
    main()
