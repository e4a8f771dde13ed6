"""Two different days materialised at once by two `invoice-ops run` processes on one store and one
Dagster instance (SQLite; PostgreSQL for both) store exactly what serial runs of the same days
store, so per-day runs can be spread over workers."""

from __future__ import annotations

import shutil
from contextlib import ExitStack
from pathlib import Path

import dagster as dg
import pytest

from invoice_assets.definitions import build_definitions
from invoice_assets.demo import generate_demo
from invoice_assets.services.materialise import materialise
from tests.assets.helpers import store_for
from tests.conftest import REPO, throwaway_database
from tests.processes import pg_instance_env, processes, product_env
from tests.store_snapshot import assert_same_snapshot, store_snapshot

DAYS = ["2025-03-01", "2025-03-02"]
# Big enough that each run spends seconds in its stages, so that the two runs overlap.
INVOICES_PER_DAY = 800


@pytest.fixture(scope="module")
def inbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo days, shared by every store of this module (the pipeline only reads files)."""
    path = tmp_path_factory.mktemp("inbox")
    generate_demo(path, DAYS, INVOICES_PER_DAY, seed=11)
    return path


def _environment(root: Path, inbox: Path, backend: str, stack: ExitStack) -> dict[str, str]:
    """A fresh store on ``backend`` reading ``inbox``."""
    env = {"INVOICE_HOME": str(root / "home"), "INVOICE_INBOX": str(inbox)}
    if backend == "postgresql":
        env["INVOICE_DB_URL"] = stack.enter_context(throwaway_database())
    return env


def test_two_days_run_at_once_store_what_serial_runs_store(
    tmp_path: Path, inbox: Path, backend: str, apply_env, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ExitStack() as stack:
        parallel = _environment(tmp_path / "parallel", inbox, backend, stack)
        dagster_home = tmp_path / "parallel" / "dagster"
        dagster_home.mkdir(parents=True)
        parallel["DAGSTER_HOME"] = str(dagster_home)  # the CLI puts its SQLite instance here
        if backend == "postgresql":  # the Dagster instance on PostgreSQL too, as deployed
            shutil.copy(REPO / "deploy" / "dagster.yaml", dagster_home / "dagster.yaml")
            for key, value in pg_instance_env(stack.enter_context(throwaway_database())).items():
                parallel[key] = value
                monkeypatch.setenv(key, value)  # for reading the instance below

        with processes(tmp_path / "logs") as running:
            for day in DAYS:
                argv = ["invoice-ops", "run", "--date", day]
                running.start(f"run-{day}", argv, product_env(**parallel))
            codes = {name: p.wait(timeout=240) for name, p in running.started.items()}
        assert codes == {f"run-{d}": 0 for d in DAYS}, running.all_logs()

        with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
            records = instance.get_run_records()
        assert sorted(r.dagster_run.tags["dagster/partition"] for r in records) == DAYS
        assert {r.dagster_run.status for r in records} == {dg.DagsterRunStatus.SUCCESS}
        first, second = sorted(records, key=lambda r: r.start_time or 0.0)
        assert second.start_time is not None and first.end_time is not None
        assert second.start_time < first.end_time, "the two runs did not overlap"
        actual = store_snapshot(store_for(parallel), DAYS)

        serial = _environment(tmp_path / "serial", inbox, backend, stack)
        apply_env(serial)  # the runs' resources read INVOICE_* from the process environment
        outcomes = materialise(DAYS, dg.DagsterInstance.ephemeral(), defs=build_definitions(serial))
        assert [o.success for o in outcomes] == [True, True]
        expected = store_snapshot(store_for(serial), DAYS)

    assert_same_snapshot(actual, expected)
