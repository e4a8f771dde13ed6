"""``invoice-ops`` commands around the running service: ``serve``, ``health``, ``status``,
``token`` and ``smoke``, plus ``api_settings`` (the ops API settings for this environment).

Not for: the API itself (``invoice_assets/api``), the readiness checks, the operator status
and the smoke test (``invoice_assets/services/``: ``readiness.py``, ``status.py``,
``post_deploy_smoke.py``), or the group these commands are registered on
(``invoice_assets/cli.py``).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from invoice_assets.commands.common import (
    EXIT_FAIL,
    EXIT_INVALID,
    EXIT_OK,
    emit,
    fail,
    progress,
    require_thresholds,
)
from invoice_assets.services.settings import Settings

if TYPE_CHECKING:
    from invoice_assets.api.settings import ApiSettings


def api_settings(settings: Settings) -> ApiSettings:
    """Settings of the ops API for this environment (tokens file read and checked here)."""
    from invoice_assets.api.settings import ApiSettings, SettingsError, load_operators

    try:
        operators = load_operators(settings.tokens_file)
    except SettingsError as exc:
        fail(str(exc))
        raise
    return ApiSettings(
        store=settings.store(),
        operators=operators,
        openai_check=settings.openai_check(),
        dagster_home=settings.dagster_home,
    )


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option(
    "--readiness-cache-seconds",
    default=1.0,
    show_default=True,
    type=click.FloatRange(0, 60),
    help="Reuse a /health/ready answer this long (0: run the checks on every request).",
)
@click.option(
    "--request-timeout",
    default=10.0,
    show_default=True,
    type=click.FloatRange(0.1, 300),
    help="A request must arrive completely within this many seconds (else 408), so slow "
    "clients cannot hold connections.",
)
def serve(host: str, port: int, readiness_cache_seconds: float, request_timeout: float) -> None:
    """Serve the ops API (refuses to start on a broken config or tokens file)."""
    import dataclasses

    from invoice_assets.api import create_app
    from invoice_assets.api.server import serve as run_server

    require_thresholds()
    settings = api_settings(Settings.from_env())
    settings = dataclasses.replace(settings, readiness_cache_seconds=readiness_cache_seconds)
    app = create_app(settings)
    run_server(app, host, port, request_timeout)


@click.command()
@click.option("--json", "as_json", is_flag=True)
@click.option("--timeout", default=2.0, show_default=True, type=float, help="Per check, seconds.")
def health(as_json: bool, timeout: float) -> None:
    """Readiness as /health/ready computes it; exit 0 ready, 1 not ready, 2 config invalid."""
    from invoice_assets.services.readiness import readiness
    from resources.thresholds import check_thresholds

    settings = Settings.from_env()
    model, violations, source = check_thresholds()
    if model is None:  # invalid configuration: exit 2, as every command (not 1, "not ready")
        for violation in violations:
            click.echo(f"  {violation}", err=True)
        report = {"status": "not_ready", "failing_checks": ["config"], "checks": {}}
        text = f"NOT READY: config invalid in {source} (see invoice-ops validate-config)"
        emit(report, as_json, text)
        sys.exit(EXIT_INVALID)
    store = settings.store()
    result = readiness(
        store,
        model,
        openai_check=settings.openai_check(),
        timeout_seconds=timeout,
        dagster_home=settings.dagster_home,
    ).as_dict()
    lines = [f"{result['status'].upper().replace('_', ' ')}"]
    for name, check in result["checks"].items():
        extra = {k: v for k, v in check.items() if k != "status"}
        lines.append(f"  {name:<11} {check['status']:<9} {extra}")
    lines.append(f"  last activity: {result['last_activity']}")
    emit(result, as_json, "\n".join(lines))
    sys.exit(EXIT_OK if result["status"] == "ready" else EXIT_FAIL)


@click.command()
@click.option("--json", "as_json", is_flag=True)
@click.option("--no-runs", is_flag=True, help="Skip reading the Dagster instance (faster).")
def status(as_json: bool, no_runs: bool) -> None:
    """The five operator questions on one screen; exit 1 when not ready or config broken."""
    from invoice_assets.services.status import operator_status, render

    result = operator_status(Settings.from_env(), with_runs=not no_runs)
    emit(result, as_json, render(result))
    healthy = result["config"]["valid"] and result["working"]["ready"]
    sys.exit(EXIT_OK if healthy else EXIT_FAIL)


@click.command()
@click.option("--name", required=True, help="Operator name recorded with their feedback.")
def token(name: str) -> None:
    """Print a new bearer token and the tokens-file line that stores its hash."""
    from invoice_assets.api.settings import hash_token, new_token

    value = new_token()
    click.echo(f"token (give to {name}, shown once): {value}")
    click.echo("add to INVOICE_OPS_TOKENS_FILE under `operators:`")
    click.echo(f"  - name: {name}\n    token_sha256: {hash_token(value)}")


@click.command()
@click.option(
    "--postgres",
    default=None,
    help="Admin URL of a PostgreSQL server (postgresql+psycopg2://…/postgres): run the smoke "
    "test in a throwaway database there instead of a temporary SQLite file.",
)
@click.option("--json", "as_json", is_flag=True)
def smoke(postgres: str | None, as_json: bool) -> None:
    """Post-deploy check: the seven E2E steps on a throwaway store; exit 0 pass, 1 fail."""
    from invoice_assets.services.post_deploy_smoke import run_smoke

    require_thresholds()
    from invoice_assets.definitions import build_definitions  # imports once the config is good

    report = run_smoke(build_definitions, postgres, progress=progress)
    lines = [f"{'PASS' if s['ok'] else 'FAIL'}  {s['step']}" for s in report.steps]
    lines.append("SMOKE PASSED" if report.passed else "SMOKE FAILED")
    emit({"passed": report.passed, "steps": report.steps}, as_json, "\n".join(lines))
    sys.exit(EXIT_OK if report.passed else EXIT_FAIL)
