"""What every ``invoice-ops`` command shares: the one printer, errors, exit codes, arguments.

Output goes through ``emit`` (text, or JSON with ``--json``), progress and errors go to stderr.
Exit codes: ``EXIT_OK`` 0 success, ``EXIT_FAIL`` 1 the thing checked is not OK, ``EXIT_INVALID``
2 invalid input or configuration (and 128 + a signal's number for a run stopped by it while it
waited for a pool slot). ``parse_day`` and ``require_thresholds`` turn a bad date or a
broken thresholds file into that exit 2.

Not for: commands (``invoice_assets/commands/*``) or the group (``invoice_assets/cli.py``).
"""

from __future__ import annotations

import json
import sys
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import click

from invoice_assets.partitions import TIMEZONE

if TYPE_CHECKING:
    from resources.thresholds import Thresholds

EXIT_OK, EXIT_FAIL, EXIT_INVALID = 0, 1, 2


def emit(data: Any, as_json: bool, text: str | None = None) -> None:
    """The one printer: JSON for scripts, readable text for people."""
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))
    else:
        click.echo(
            text
            if text is not None
            else json.dumps(data, ensure_ascii=False, indent=2, default=str)
        )


def fail(message: str, code: int = EXIT_INVALID) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def progress(message: str) -> None:
    click.echo(message, err=True)


def yesterday() -> str:
    return (datetime.now(ZoneInfo(TIMEZONE)).date() - timedelta(days=1)).isoformat()


def parse_day(value: str | None) -> str:
    """An ISO day (yesterday in Istanbul when None), or exit 2 on anything else."""
    if value is None:
        return yesterday()
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        fail(f"not a date (YYYY-MM-DD): {value!r}")
        raise  # unreachable


def require_thresholds() -> Thresholds:
    """The validated thresholds, or exit 2 listing every violation."""
    from resources.thresholds import check_thresholds

    model, violations, source = check_thresholds()
    if model is None:
        for violation in violations:
            click.echo(f"  {violation}", err=True)
        fail(f"{len(violations)} threshold violation(s) in {source}")
    assert model is not None
    return model
