"""Decisions follow extractions: when the extractions asset rewrites a day, that day's decision
time is forgotten (its invoices have not been decided again yet), and no other day's is; on
SQLite and on PostgreSQL. The rule is the store's ``replace_extractions``; the generic partition
replacement does not apply it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd

from invoice_assets.definitions import build_resources
from resources.store import InvoiceStore
from tests.assets.helpers import graph_assets, materialize_day, store_for
from tests.conftest import put_smoke_fixtures

DAY, OTHER_DAY = "2025-02-03", "2025-02-04"
T0 = datetime(2025, 2, 3, 9, 0, tzinfo=UTC)


def _latencies(store: InvoiceStore, day: str) -> pd.Series:
    facts = store.invoice_facts(day, day, ["invoice_key", "pipeline_total_ms"])
    return facts["pipeline_total_ms"]


def test_rematerialising_a_days_extractions_forgets_that_days_decision_only(
    env: dict[str, str], apply_env
) -> None:
    apply_env(env)
    for day in (DAY, OTHER_DAY):
        put_smoke_fixtures(Path(env["INVOICE_HOME"]) / "inbox", day)
        assert materialize_day(env, day).success  # the incidents asset decides the day
    store = store_for(env)
    assert _latencies(store, DAY).notna().any()
    assert _latencies(store, OTHER_DAY).notna().any()

    result = dg.materialize(
        graph_assets(),
        selection=["extractions"],
        partition_key=DAY,
        resources=build_resources(env),
        instance=dg.DagsterInstance.ephemeral(),
    )

    assert result.success
    assert len(_latencies(store, DAY)) > 0
    assert _latencies(store, DAY).isna().all()  # until the incidents asset decides it again
    assert _latencies(store, OTHER_DAY).notna().any()
    assert materialize_day(env, DAY).success
    assert _latencies(store, DAY).notna().any()


def _started(day: str) -> pd.DataFrame:
    return pd.DataFrame(
        {"day": day, "invoice_key": ["K0", "K1"], "started_at": pd.to_datetime([T0, T0], utc=True)}
    )


def test_only_replace_extractions_applies_the_rule(env: dict[str, str]) -> None:
    store = store_for(env)
    store.replace_partitions({"extractions": _started(DAY)}, [DAY])
    store.mark_decided([DAY], T0)

    store.replace_partitions({"extractions": _started(DAY)}, [DAY])  # a generic rewrite
    assert not np.isnan(_latencies(store, DAY)).any()

    store.replace_extractions(["extractions"], [DAY], iter([{"extractions": _started(DAY)}]))
    assert np.isnan(_latencies(store, DAY)).all()
