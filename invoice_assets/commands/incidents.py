"""``invoice-ops incidents …``: list, show, ack, resolve incidents and give feedback on them.

Thin commands over the store and ``invoice_assets.domain`` (status transitions, feedback rules);
text output is one line per incident.

Not for: the incident logic itself (``invoice_assets/domain/incidents.py``, ``feedback.py``),
the HTTP routes doing the same (``invoice_assets/api``), or the top-level group
(``invoice_assets/cli.py``).
"""

from __future__ import annotations

from typing import Any

import click

from invoice_assets.commands.common import EXIT_FAIL, emit, fail, parse_day
from invoice_assets.services.settings import Settings


@click.group()
def incidents() -> None:
    """List, inspect, acknowledge, resolve incidents and give feedback."""


def _incident_line(i: dict[str, Any]) -> str:
    """One incident, naming its invoice as printed (the key can be a hash)."""
    invoice = " ".join(
        str(i.get(k) or "-") for k in ("supplier", "invoice_no", "invoice_period", "source_file")
    )
    return (
        f"#{i['incident_id']:<6} {i['day']} {i['severity']} {i['status']:<8} "
        f"{i['primary_flag']:<24} {i['action_class'] or '':<22} {invoice}"
    )


@incidents.command("list")
@click.option("--severity", type=click.Choice(["S1", "S2"]))
@click.option("--status", type=click.Choice(["OPEN", "ACK", "RESOLVED"]))
@click.option("--date", "day", default=None)
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--json", "as_json", is_flag=True)
def incidents_list(
    severity: str | None, status: str | None, day: str | None, limit: int, as_json: bool
) -> None:
    """Newest first."""
    store = Settings.from_env().store()
    rows = store.list_incidents(
        severity=severity, status=status, day=None if day is None else parse_day(day), limit=limit
    )
    emit(rows, as_json, "\n".join(_incident_line(r) for r in rows) or "no incidents")


def _get(incident_id: int) -> dict[str, Any]:
    store = Settings.from_env().store()
    row = store.get_incident(incident_id)
    if row is None:
        fail(f"incident {incident_id} not found", EXIT_FAIL)
    assert row is not None
    return row


@incidents.command("show")
@click.argument("incident_id", type=int)
@click.option("--json", "as_json", is_flag=True)
def incidents_show(incident_id: int, as_json: bool) -> None:
    """One incident with its hint, mismatch facts, feedback and field evidence."""
    row = _get(incident_id)
    evidence = Settings.from_env().store().invoice_evidence(row["day"], row["invoice_key"])
    emit(row | {"evidence": evidence}, as_json)


_EXPECT = click.option(
    "--expect",
    type=click.Choice(["OPEN", "ACK"]),
    default=None,
    help="Change it only if it is still in this status (default: the status read now).",
)


def _move(incident_id: int, status: str, reason: str | None, expect: str | None) -> None:
    """One compare-and-set on the expected status: exit 2 when the state machine refuses the
    move, 1 (``conflict``) when the incident is no longer in that status."""
    from invoice_assets.kernel.clock import SYSTEM_CLOCK
    from resources.store.incidents import StatusConflict, TransitionRefused

    row = _get(incident_id)
    store = Settings.from_env().store()
    try:
        updated = store.set_incident_status(
            incident_id, status, reason, SYSTEM_CLOCK.now(), expected=expect or row["status"]
        )
    except TransitionRefused as exc:
        fail(str(exc))
        raise
    except StatusConflict as exc:
        fail(f"conflict: {exc}", EXIT_FAIL)
        raise
    if updated is None:
        fail(f"incident {incident_id} not found", EXIT_FAIL)
    assert updated is not None
    click.echo(_incident_line(updated))


@incidents.command("ack")
@click.argument("incident_id", type=int)
@_EXPECT
def incidents_ack(incident_id: int, expect: str | None) -> None:
    """OPEN → ACK."""
    _move(incident_id, "ACK", None, expect)


@incidents.command("resolve")
@click.argument("incident_id", type=int)
@click.option("--reason", default="manual_resolved", show_default=True)
@_EXPECT
def incidents_resolve(incident_id: int, reason: str, expect: str | None) -> None:
    """OPEN/ACK → RESOLVED (resolved_at is server time)."""
    if len(reason) > 64 or "\x00" in reason:
        fail("--reason must be at most 64 characters without NUL")
    _move(incident_id, "RESOLVED", reason, expect)


@incidents.command("feedback")
@click.argument("incident_id", type=int)
@click.option("--action", "action_taken", required=True, help="VERIFIED_OCR, VERIFIED_LOGIC, ...")
@click.option("--hint-correct/--hint-wrong", "was_hint_correct", required=True)
@click.option("--root-cause", "actual_root_cause", default=None)
@click.option("--seconds", "resolution_time_seconds", type=float, default=None)
def incidents_feedback(
    incident_id: int,
    action_taken: str,
    was_hint_correct: bool,
    actual_root_cause: str | None,
    resolution_time_seconds: float | None,
) -> None:
    """Feedback on a RESOLVED incident (replaces earlier feedback); given by the OS user."""
    import getpass

    from invoice_assets.domain.feedback import FeedbackError, require_resolved, validate_feedback
    from invoice_assets.kernel.clock import SYSTEM_CLOCK
    from resources.store.incidents import StatusConflict

    row = _get(incident_id)
    body = {
        "action_taken": action_taken,
        "was_hint_correct": was_hint_correct,
        "actual_root_cause": actual_root_cause,
        "resolution_time_seconds": resolution_time_seconds,
    }
    try:
        require_resolved(row["status"])
        feedback = validate_feedback(body)
    except FeedbackError as exc:
        fail(f"{exc.code}: {exc.message}")
        raise
    store = Settings.from_env().store()
    try:  # written only while still RESOLVED (a rerun may have reopened it meanwhile)
        store.put_feedback(incident_id, feedback, f"cli:{getpass.getuser()}", SYSTEM_CLOCK.now())
    except StatusConflict as exc:
        fail(f"incident_not_resolved: {exc}")
    click.echo(f"feedback stored for incident {incident_id}")
