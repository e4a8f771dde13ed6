"""RUNBOOK.md names only things that exist: CLI commands parse, API paths are routes, SQL runs."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import click
import pytest
from sqlalchemy import text

from invoice_assets.cli import main
from invoice_assets.guard import build_guard_definitions
from resources.store import InvoiceStore

REPO = Path(__file__).resolve().parent.parent
RUNBOOK = (REPO / "RUNBOOK.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```(\w+)\n(.*?)```", RUNBOOK, flags=re.S)


def _lines(kind: str) -> list[str]:
    out = []
    for block_kind, body in BLOCKS:
        if block_kind == kind:
            for line in body.splitlines():
                line = line.split("  #", 1)[0].strip()
                if line:
                    out.append(line)
    return out


CLI_LINES = [line for line in _lines("sh") if "invoice-ops " in line]
CURL_LINES = [line for line in _lines("sh") if line.startswith("curl ")]
SQL = [
    statement.strip()
    for _, body in (b for b in BLOCKS if b[0] == "sql")
    for statement in body.split(";")
    if statement.strip()
]


def test_the_runbook_has_commands_urls_and_queries_to_check() -> None:
    assert len(CLI_LINES) >= 15
    assert len(CURL_LINES) >= 8
    assert len(SQL) >= 7


@pytest.mark.parametrize("line", CLI_LINES)
def test_every_invoice_ops_command_parses(line: str) -> None:
    words = shlex.split(line)
    words = words[words.index("invoice-ops") + 1 :]
    command: click.Command = main
    context = None
    while isinstance(command, click.Group) and words and not words[0].startswith("-"):
        sub = command.get_command(click.Context(command), words[0])
        assert sub is not None, f"no such command: {words[0]!r} in {line!r}"
        command, words = sub, words[1:]
    context = command.make_context(command.name or "invoice-ops", list(words))
    assert context is not None


@pytest.mark.parametrize("line", CURL_LINES)
def test_every_api_url_is_a_served_route(line: str, tmp_path: Path) -> None:
    from starlette.routing import Match

    from invoice_assets.api import create_app
    from invoice_assets.api.settings import ApiSettings

    app = create_app(ApiSettings(store=InvoiceStore(home=str(tmp_path)), log_requests=False))
    url = re.search(r'"?\$API(/[^"\s?]*)', line)
    assert url is not None, line
    scope = {"type": "http", "path": url.group(1), "method": "GET"}
    assert any(route.matches(scope)[0] == Match.FULL for route in app.routes), url.group(1)


@pytest.mark.parametrize("statement", SQL)
def test_every_query_runs_against_the_store_schema(statement: str, tmp_path: Path) -> None:
    store = InvoiceStore(home=str(tmp_path))
    store.ensure_schema()
    with store.engine.connect() as conn:
        conn.execute(text(statement)).fetchall()


def test_named_checks_schedules_and_sensors_exist() -> None:
    snapshot = json.loads((REPO / "tests" / "definitions_snapshot.json").read_text())
    known = {c.split(":")[1] for c in snapshot["checks"]} | set(snapshot["schedules"])
    known |= set(snapshot["sensors"]) | set(snapshot["assets"]) | set(snapshot["jobs"])
    known |= {sensor.name for sensor in build_guard_definitions({}).sensors or []}
    named = set(
        re.findall(r"`([a-z][a-z0-9_]+(?:_expectations|_drift|_schedule|_sensor))`", RUNBOOK)
    )
    named |= set(re.findall(r"\*\*(?:Assets|Automation) → ([a-z_]+)", RUNBOOK))
    assert named, "the runbook names no checks"
    assert named <= known, named - known
