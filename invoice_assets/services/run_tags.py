"""Run tags that say who or what started a run: ``invoice/trigger`` (cli, schedule, sensor, ui)
and ``invoice/operator`` where the operator is known (the CLI's user).

The daily job carries ``invoice/trigger: ui`` by default (a launch from the UI's launchpad or a
backfill); the schedule, the inbox sensor and the CLI override it. A Materialize from an asset
page runs Dagster's implicit asset job, which carries Dagster's own ``dagster/from_ui`` tag
instead; ``trigger_of`` reads both.
"""

from __future__ import annotations

from collections.abc import Mapping

TRIGGER_TAG = "invoice/trigger"
OPERATOR_TAG = "invoice/operator"
TRIGGERS = ("cli", "schedule", "sensor", "ui")


def trigger_of(tags: Mapping[str, str]) -> str | None:
    """What started a run, from its tags (None when nothing says)."""
    if tags.get(TRIGGER_TAG) in TRIGGERS:
        return tags[TRIGGER_TAG]
    if "dagster/schedule_name" in tags:
        return "schedule"
    if "dagster/sensor_name" in tags:
        return "sensor"
    if tags.get("dagster/from_ui") == "true":
        return "ui"
    return None
