"""``invoice-ops reap``: end runs whose process is gone and free the pool slots nobody will free.

``invoice-ops run`` does the same before it waits for a slot, and ``health``/``status`` report what
there is to reap (the ``runs`` check); this command is for doing it without starting a run, and
for a run the operator knows is dead where this host cannot tell (``--run-id``: a run of another
host, or one launched by the daemon or the UI).

Not for: the detection itself (``invoice_assets/services/dead_runs.py``) or the group
(``invoice_assets/cli.py``).
"""

from __future__ import annotations

import sys

import click

from invoice_assets.commands.common import EXIT_FAIL, EXIT_OK, emit, fail
from invoice_assets.services.settings import Settings


@click.command()
@click.option(
    "--run-id",
    "run_ids",
    multiple=True,
    help="Also end this run (you know its process is gone) and free its slots; repeatable.",
)
@click.option("--json", "as_json", is_flag=True)
def reap(run_ids: tuple[str, ...], as_json: bool) -> None:
    """Mark runs whose process is gone as failed and free their pool slots; exit 1 when a
    --run-id names no run."""
    from invoice_assets.services.dead_runs import IN_PROGRESS, open_instance, reap_dead_runs

    settings = Settings.from_env()
    instance = open_instance(settings.dagster_home)
    if instance is None:
        fail(f"no Dagster instance at {settings.dagster_home}", EXIT_FAIL)
    assert instance is not None
    done = reap_dead_runs(instance)
    missing = []
    for run_id in run_ids:
        record = instance.get_run_record_by_id(run_id)
        if record is None:
            missing.append(run_id)
            continue
        if record.dagster_run.status in IN_PROGRESS:
            message = "marked failed by an operator (invoice-ops reap --run-id)"
            instance.report_run_failed(record.dagster_run, message=message)
            done.append({"run_id": run_id, "action": "failed", "why": message})
        instance.event_log_storage.free_concurrency_slots_for_run(run_id)
        done.append({"run_id": run_id, "action": "slots freed", "why": "named by the operator"})
    lines = [f"{d['run_id']}: {d['action']} ({d['why']})" for d in done] or ["nothing to reap"]
    lines += [f"error: no run {run_id}" for run_id in missing]
    emit({"done": done, "unknown_run_ids": missing}, as_json, "\n".join(lines))
    sys.exit(EXIT_FAIL if missing else EXIT_OK)
