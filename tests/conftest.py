"""Shared fixtures: throwaway homes, a fresh PostgreSQL database per test, stores on both backends.

PostgreSQL runs on 127.0.0.1:5432 with trust auth (CI starts it); each test that needs it gets
its own database, dropped afterwards, so no test depends on leftovers.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg2
import pytest

PG_ADMIN = "dbname=postgres user=postgres host=127.0.0.1 port=5432"
REPO = Path(__file__).resolve().parent.parent
SMOKE = REPO / "config" / "smoke"


def _admin(sql: str) -> None:
    conn = psycopg2.connect(PG_ADMIN)
    conn.autocommit = True
    try:
        with conn.cursor() as cursor:
            cursor.execute(sql)
    finally:
        conn.close()


@contextmanager
def throwaway_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database (its URL), dropped on exit (for any fixture scope)."""
    from resources.store import dispose_engine

    name = f"invoice_test_{uuid.uuid4().hex[:12]}"
    _admin(f'CREATE DATABASE "{name}"')
    url = f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"
    try:
        yield url
    finally:
        dispose_engine(url)
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for this test (dropped afterwards)."""
    with throwaway_database() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def env(tmp_path: Path, backend: str, request: pytest.FixtureRequest) -> dict[str, str]:
    """An environment for the given backend: INVOICE_HOME in tmp, INVOICE_DB_URL for PostgreSQL."""
    values = {"INVOICE_HOME": str(tmp_path / "home")}
    if backend == "postgresql":
        values["INVOICE_DB_URL"] = request.getfixturevalue("pg_url")
    return values


@pytest.fixture
def sqlite_env(tmp_path: Path) -> dict[str, str]:
    return {"INVOICE_HOME": str(tmp_path / "home")}


@pytest.fixture
def apply_env(monkeypatch: pytest.MonkeyPatch):
    """Put an env dict into os.environ for the test (EnvVar resolution reads os.environ)."""

    def apply(values: dict[str, str]) -> dict[str, str]:
        # The CLI sets DAGSTER_HOME for its instance; restore whatever was there afterwards.
        monkeypatch.delenv("DAGSTER_HOME", raising=False)
        set_product_env(monkeypatch, values)
        return values

    return apply


@pytest.fixture
def cli_env(tmp_path: Path, apply_env) -> dict[str, str]:
    """A throwaway INVOICE_HOME for ``invoice-ops`` run through ``invoke``."""
    return apply_env({"INVOICE_HOME": str(tmp_path / "home")})


def invoke(*args: str) -> tuple[int, str, str]:
    """``invoice-ops ARGS`` through click's runner: (exit code, stdout, stderr)."""
    from click.testing import CliRunner

    from invoice_assets.cli import main

    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def set_product_env(mp: pytest.MonkeyPatch, values: dict[str, str]) -> None:
    """Replace every INVOICE_* and OPENAI_* variable of os.environ by ``values`` (through ``mp``,
    which restores them)."""
    for key in [k for k in os.environ if k.startswith(("INVOICE_", "OPENAI_"))]:
        mp.delenv(key, raising=False)
    for key, value in values.items():
        mp.setenv(key, value)


def openai_day(
    apply_env, home: Path, standin_url: str, key: str, day: str
) -> tuple[dict[str, str], Path]:
    """An environment with the OpenAI extractor pointed at a stand-in, and the (new) inbox
    folder of ``day``."""
    env = apply_env(
        {"INVOICE_HOME": str(home), "OPENAI_API_KEY": key, "OPENAI_BASE_URL": standin_url}
    )
    folder = home / "inbox" / day
    folder.mkdir(parents=True)
    return env, folder


def put_smoke_fixtures(inbox: Path, day: str, *, broken: bool = False) -> list[Path]:
    """Copy the three smoke fixtures (and optionally a truncated file) into an inbox day."""
    folder = inbox / day
    folder.mkdir(parents=True, exist_ok=True)
    paths = [Path(shutil.copy(p, folder)) for p in sorted(SMOKE.glob("*_invoice.json"))]
    if broken:
        target = folder / "zz-truncated.json"
        target.write_text('{"schema_version": 1, "invoice": {"supplier": "x"', encoding="utf-8")
        paths.append(target)
    return paths
