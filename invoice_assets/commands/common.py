"""What every ``invoice-ops`` command shares: the one printer, errors, exit codes, arguments.

Output goes through ``emit`` (text, or JSON with ``--json``), progress and errors go to stderr.
Exit codes: ``EXIT_OK`` 0 success, ``EXIT_FAIL`` 1 the thing checked is not OK, ``EXIT_INVALID``
2 invalid input or configuration (and 128 + a signal's number for a run stopped by it while it
waited for a pool slot). ``parse_day`` (a strict ISO day, ``domain/days.py``), ``partition_day``
(a day the partitions hold) and ``require_thresholds`` turn a bad date or a
broken thresholds file into that exit 2.

Not for: commands (``invoice_assets/commands/*``) or the group (``invoice_assets/cli.py``).
"""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import click

from invoice_assets.domain.days import local_day
from invoice_assets.kernel.clock import SYSTEM_CLOCK

if TYPE_CHECKING:
    from invoice_assets.domain.thresholds import Thresholds
    from invoice_assets.services.settings import Settings

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
    return (local_day(SYSTEM_CLOCK.now()) - timedelta(days=1)).isoformat()


def parse_day(value: str | None, name: str = "--date") -> str:
    """A strict ISO day in the accepted range (``domain.days``; yesterday in Istanbul when None),
    or exit 2 with the reason on stderr."""
    from invoice_assets.domain.days import DayError
    from invoice_assets.domain.days import parse_day as strict_day

    if value is None:
        return yesterday()
    try:
        return strict_day(value, name).isoformat()
    except DayError as exc:
        fail(str(exc))
        raise  # unreachable


def cli_tags(operator: str | None) -> dict[str, str]:
    """Run tags of a run the CLI starts: the trigger, and the operator (the user by default)."""
    import getpass

    from invoice_assets.services.run_tags import OPERATOR_TAG, TRIGGER_TAG

    if operator is None:
        try:
            operator = getpass.getuser()
        except (KeyError, OSError):  # no user name for this uid (a container, say)
            operator = None
    return {TRIGGER_TAG: "cli", **({OPERATOR_TAG: operator} if operator else {})}


def require_settings() -> Settings:
    """The settings, or exit 2 naming the environment variable whose value is unusable."""
    from invoice_assets.services.settings import Settings, SettingsError

    settings = Settings.from_env()
    try:
        settings.layout()
    except SettingsError as exc:
        fail(str(exc))
    return settings


def partition_day(value: str | None, name: str = "--date", *, arrival: bool = False) -> str:
    """``parse_day``, and the day must be a daily partition, else exit 2 with the range.

    A partition exists once its day has ended (the first is ``INVOICE_PARTITIONS_START``, the
    last is yesterday in Istanbul). ``arrival``: the day files arrive on, which may also be today
    (``ingest``; the day is run once it has ended)."""
    day = parse_day(value, name)
    partitions = require_settings().layout().partitions
    first = partitions.get_first_partition_key()
    today = local_day(SYSTEM_CLOCK.now()).isoformat()
    last = today if arrival else (partitions.get_last_partition_key() or "")
    if first is None or not first <= day <= last:
        what = "an inbox day" if arrival else "a partition"
        fail(f"{name} {day} is not {what}: days run from {first} to {last} (Istanbul time)")
    return day


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
