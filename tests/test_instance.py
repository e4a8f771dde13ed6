"""The CLI's Dagster instance opened by several processes at once (SQLite, and PostgreSQL with the
production instance file): each gets it, and the pools' limits are written once, beforehand."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from invoice_assets.services.dagster_instance import POOLS, open_instance
from tests.assets.helpers import graph_assets
from tests.conftest import REPO
from tests.processes import at_once, pg_instance_env


def _open(home: str) -> int:
    instance = open_instance(Path(home))
    instance.get_runs(limit=1)
    return instance.event_log_storage.get_concurrency_info("openai").slot_count


@pytest.mark.parametrize("config", ["config/dagster.yaml", "deploy/dagster.yaml"])
def test_processes_opening_a_fresh_instance_at_once_all_get_it(
    tmp_path: Path, config: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three `invoice-ops run` starting together on a fresh DAGSTER_HOME: Dagster's own table
    creation (SQLite) used to fail all but one, and the pool's first limit row was left to the
    runs' first claims, which race on PostgreSQL (dagster-io/dagster#33552)."""
    home = tmp_path / "dagster"
    home.mkdir()
    shutil.copy(REPO / config, home / "dagster.yaml")
    if config.startswith("deploy"):
        for key, value in pg_instance_env(request.getfixturevalue("pg_url")).items():
            monkeypatch.setenv(key, value)

    outcomes = at_once(_open, (str(home),), 3)

    assert outcomes == [("ok", 2)] * 3  # the instance file's pools.default_limit


def test_the_pools_opened_are_the_pools_of_the_code_location() -> None:
    pools = {asset.op.pool for asset in graph_assets()} - {None}
    assert set(POOLS) == pools
