"""``invoice-ops alerts list``: the alerts the sensors raised, newest first.

One row per alert identity (rule, day, tenant, subject): a rerun does not add a row, a changed
value raises its revision. Read-only; the sensors and the guard location raise alerts.

Not for: raising or delivering alerts (``resources/alerts.py``), the rules (the domain).
"""

from __future__ import annotations

from typing import Any

import click

from invoice_assets.commands.common import emit, parse_day
from invoice_assets.services.settings import Settings


@click.group()
def alerts() -> None:
    """Alerts raised by the sensors (once per rule, day and tenant)."""


def _alert_line(a: dict[str, Any]) -> str:
    delivered = "delivered" if a["delivered"] else f"NOT delivered ({a['delivery_attempts']})"
    updated = f" rev {a['revision']}" if (a.get("revision") or 1) > 1 else ""
    return (
        f"#{a['alert_id']:<5} {a['created_at']:%Y-%m-%d %H:%M} {a.get('day') or '-':<10} "
        f"{a['severity']:<8} {a['code']:<22}{updated} {delivered}: {a['message']}"
    )


@alerts.command("list")
@click.option("--date", "day", default=None, help="Only the alerts about this inbox day.")
@click.option("--code", default=None, help="Only this rule (e.g. S1_RATE_DRIFT).")
@click.option("--undelivered", is_flag=True, help="Only alerts the webhook has not taken.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--json", "as_json", is_flag=True)
def alerts_list(
    day: str | None, code: str | None, undelivered: bool, limit: int, as_json: bool
) -> None:
    """Newest first."""
    store = Settings.from_env().store()
    rows = store.alerts(
        undelivered_only=undelivered,
        day=parse_day(day) if day else None,
        code=code,
        limit=limit,
    )
    emit(rows, as_json, "\n".join(_alert_line(r) for r in rows) or "no alerts")
