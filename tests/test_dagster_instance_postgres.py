"""The Dagster instance itself on PostgreSQL (dagster-postgres, config/dagster-postgres.yaml)."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import psycopg2
import pytest

from invoice_assets.definitions import build_definitions
from tests.assets.helpers import store_for
from tests.conftest import REPO, put_smoke_fixtures

DAY = "2025-02-03"


def test_the_daily_job_runs_with_the_dagster_instance_on_postgresql(
    tmp_path: Path,
    pg_url: str,
    apply_env,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = apply_env({"INVOICE_HOME": str(tmp_path / "home"), "INVOICE_DB_URL": pg_url})
    db_name = pg_url.rsplit("/", 1)[-1]
    dagster_home = tmp_path / "dagster"
    dagster_home.mkdir()
    shutil.copy(REPO / "config" / "dagster-postgres.yaml", dagster_home / "dagster.yaml")
    for key, value in {
        "DAGSTER_HOME": str(dagster_home),
        "DAGSTER_PG_USERNAME": "postgres",
        "DAGSTER_PG_PASSWORD": "unused-with-trust-auth",
        "DAGSTER_PG_HOST": "127.0.0.1",
        "DAGSTER_PG_DB": db_name,
    }.items():
        monkeypatch.setenv(key, value)
    put_smoke_fixtures(Path(env["INVOICE_HOME"]) / "inbox", DAY)
    job = build_definitions(env).resolve_job_def("daily_invoices")

    with dg.DagsterInstance.get() as instance:
        result = job.execute_in_process(partition_key=DAY, instance=instance)
        records = instance.get_run_records()
        materialized = instance.get_materialized_partitions(dg.AssetKey("incidents"))

    assert result.success
    assert [r.dagster_run.run_id for r in records] == [result.run_id]
    assert materialized == {DAY}
    conn = psycopg2.connect(host="127.0.0.1", user="postgres", dbname=db_name)
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM runs")
            assert cursor.fetchone() == (1,)
    finally:
        conn.close()
    assert len(store_for(env).list_incidents()) == 2
