"""A store that cannot write must make readiness NOT READY before the runs fail on it.

SQLite on a full disk, for real: a 32 MiB tmpfs mounted for the test (the suite runs as root),
filled with a file until the kernel says ENOSPC, then emptied again. PostgreSQL refusing writes:
the test database switched to read-only transactions. ``health``, ``status`` and ``/health/ready``
must all say so, naming the reason; freeing the disk makes them ready again.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from invoice_assets.services.readiness import readiness
from resources.store import InvoiceStore, dispose_engine
from resources.thresholds import load_thresholds
from tests.api.server import running_server
from tests.assets.helpers import materialize_day
from tests.conftest import _admin, put_smoke_fixtures
from tests.processes import cli, product_env

DAY = "2025-06-03"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 32 MiB tmpfs of its own, unmounted afterwards."""
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


def _fill(disk: Path) -> Path:
    """Write until the disk is full (ENOSPC), down to the last byte."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as out:
        for size in (1 << 20, 4096, 1):
            try:
                while True:
                    out.write(b"\0" * size)
            except OSError as exc:
                assert exc.errno == 28  # ENOSPC, nothing else
    return filler


def test_a_full_sqlite_disk_makes_health_not_ready_until_space_is_freed(
    tmp_path: Path, small_disk: Path, apply_env
) -> None:
    values = {
        "INVOICE_HOME": str(small_disk / "home"),
        "INVOICE_THRESHOLD__HEALTH__MIN_FREE_MB": "1",
    }
    apply_env(values)
    put_smoke_fixtures(small_disk / "home" / "inbox", DAY)
    assert materialize_day(values, DAY).success
    env = product_env(**values, DAGSTER_HOME=str(tmp_path / "dagster"))  # the instance elsewhere
    assert cli(env, "health").returncode == 0

    filler = _fill(small_disk)
    run = cli(env, "run", "--date", DAY)
    health = cli(env, "health", "--json")
    status = cli(env, "status", "--no-runs")
    with running_server(values, tmp_path / "server.log") as url:
        ready = httpx.get(f"{url}/health/ready", timeout=30)

    assert run.returncode == 1, run.stdout + run.stderr  # what the operator must see coming
    assert health.returncode == 1, health.stdout + health.stderr
    report = json.loads(health.stdout)
    assert report["failing_checks"] == ["database"]
    database = report["checks"]["database"]
    assert database["write"] == "error"
    assert "database or disk is full" in database["error"]
    assert database["free_mb"] == 0.0 and "below Health.MIN_FREE_MB (1)" in database["error"]
    assert status.returncode == 1
    assert status.stdout.startswith("1. working?      NO  failing: database"), status.stdout
    assert ready.status_code == 503
    assert ready.json()["failing_checks"] == ["database"]

    filler.unlink()
    assert cli(env, "health").returncode == 0
    assert cli(env, "run", "--date", DAY).returncode == 0


def test_a_postgresql_store_refusing_writes_makes_readiness_not_ready(pg_url: str) -> None:
    store = InvoiceStore(db_url=pg_url)
    store.ensure_schema()
    t = load_thresholds(env={})
    assert readiness(store, t).ready
    name = pg_url.rsplit("/", 1)[-1]

    _admin(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
    dispose_engine(pg_url)  # new connections get the setting
    report = readiness(store, t)

    assert not report.ready
    database = report.checks["database"]
    assert database.status == "error" and database.detail["write"] == "error"
    assert "read-only transaction" in database.detail["error"]
    assert "free_mb" not in database.detail  # a server's disk is not ours to measure
    _admin(f'ALTER DATABASE "{name}" SET default_transaction_read_only = off')
    dispose_engine(pg_url)
    assert readiness(store, t).ready
