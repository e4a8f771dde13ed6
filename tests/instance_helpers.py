"""Helpers over a real (temporary) Dagster instance for sensor and fault tests."""

from __future__ import annotations

import dagster as dg
from sqlalchemy import create_engine, text


def make_stuck_run(instance: dg.DagsterInstance, minutes: int) -> str:
    """A STARTED run whose last event is ``minutes`` old (a dead worker, as the sensor sees it)."""
    run = instance.add_run(
        dg.DagsterRun(job_name="daily_invoices", status=dg.DagsterRunStatus.STARTED)
    )
    engine = create_engine(f"sqlite:///{instance.root_directory}/history/runs.db")
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE runs SET update_timestamp = datetime('now', :ago) WHERE run_id = :run_id"),
            {"ago": f"-{minutes} minutes", "run_id": run.run_id},
        )
    engine.dispose()
    return run.run_id
