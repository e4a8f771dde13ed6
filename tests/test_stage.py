"""Stage reads: the extraction frame is read once per run and shared copy-on-write."""

from __future__ import annotations

from pathlib import Path

from invoice_assets.assets.reads import read_invoices
from tests.assets.helpers import materialize_day, store_for
from tests.conftest import put_smoke_fixtures

DAY = "2025-02-03"


def test_a_run_reads_the_extraction_frame_once_and_each_stage_gets_its_own_view(
    sqlite_env, apply_env
) -> None:
    apply_env(sqlite_env)
    put_smoke_fixtures(Path(sqlite_env["INVOICE_HOME"]) / "inbox", DAY)
    assert materialize_day(sqlite_env, DAY).success
    store = store_for(sqlite_env)

    first = read_invoices(store, [DAY], "run-a")
    first.loc[0, "consumption_kwh"] = -1.0  # a stage changing its copy
    first["scratch"] = 1
    store.replace_partitions({"extractions": first.iloc[:0]}, [DAY])  # rows gone from the store

    again = read_invoices(store, [DAY], "run-a")
    assert len(again) == 3 and "scratch" not in again  # the run's frame, untouched
    assert again.loc[0, "consumption_kwh"] != -1.0
    assert len(read_invoices(store, [DAY], "run-b")) == 0  # another run reads the store
    assert len(read_invoices(store, [DAY])) == 0  # and so does a read outside any run
