"""Sensors: thin wrappers over plain discovery functions (tested with ``build_sensor_context``).

* ``inbox_sensor``: new or changed files in ``<inbox>/<day>/`` → a run of that day's partition.
"""

import hashlib
import json

import dagster as dg

from invoice_assets.jobs import daily_invoices_job
from resources.inbox import InboxResource


def inbox_fingerprints(inbox: InboxResource) -> dict[str, str]:
    """A fingerprint of each inbox day's files (names, sizes and modification times)."""
    out = {}
    for day in inbox.days():
        folder = inbox.day_dir(day)
        parts = sorted(
            f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}"
            for p in folder.iterdir()
            if p.is_file() and not p.name.startswith(".")
        )
        if parts:
            out[day] = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]
    return out


def changed_days(previous: dict[str, str], current: dict[str, str]) -> list[str]:
    return sorted(day for day, print_ in current.items() if previous.get(day) != print_)


@dg.sensor(
    job=daily_invoices_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Requests the day's partition when files arrive in or change in the inbox.",
)
def inbox_sensor(context: dg.SensorEvaluationContext, inbox: InboxResource) -> dg.SensorResult:
    previous = json.loads(context.cursor) if context.cursor else {}
    current = inbox_fingerprints(inbox)
    days = changed_days(previous, current)
    valid = set(daily_invoices_job.partitions_def.get_partition_keys())  # type: ignore[union-attr]
    requests = [
        dg.RunRequest(partition_key=day, run_key=f"inbox-{day}-{current[day]}")
        for day in days
        if day in valid
    ]
    if not requests:
        return dg.SensorResult(skip_reason="no new inbox files", cursor=json.dumps(current))
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(current))
