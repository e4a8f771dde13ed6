"""The asset path and ``domain.pipeline.evaluate()`` agree row by row and column by column.

A demo day (every anomaly kind the generator injects, a malformed file, duplicates) goes through
the asset graph on each store backend; then the same invoices, read back from the store as the
stages read them, go through ``evaluate()`` in one call. Every stored stage row — validations,
offers, quality scores, flags, incidents — must equal what ``evaluate()`` computed: the stages
persist and reload their frames between steps, and nothing may be lost or changed on the way.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from invoice_assets.assets.reads import read_invoices, read_line_items
from invoice_assets.definitions import build_resources
from invoice_assets.demo import generate_demo
from invoice_assets.domain.incidents import DEFAULT_TENANT, INCIDENT_COLUMNS
from invoice_assets.domain.pipeline import evaluate, invoice_facts
from invoice_assets.domain.validation import issues_as_json
from tests.assets.helpers import materialize_day, store_for

DAY = "2026-11-20"


@pytest.fixture
def evaluated(env: dict[str, str], apply_env):
    apply_env(env)
    generate_demo(Path(env["INVOICE_HOME"]) / "inbox", [DAY], 120, seed=23)
    assert materialize_day(env, DAY).success
    store = store_for(env)
    resources = build_resources(env)
    invoices = read_invoices(store, [DAY])
    result = evaluate(
        invoices,
        read_line_items(store, [DAY]),
        resources["market_data"].load(),
        resources["thresholds"].get(),
        DEFAULT_TENANT,
    )
    return store, invoices, result


def _same(stored: pd.DataFrame, computed: pd.DataFrame, keys: list[str]) -> None:
    """Equal frames, row for row and column for column, whatever the column order."""
    assert sorted(stored.columns) == sorted(computed.columns)
    assert len(stored) == len(computed) > 0
    left = stored.sort_values(keys, kind="stable").reset_index(drop=True)
    right = computed.sort_values(keys, kind="stable").reset_index(drop=True)[left.columns]
    for column in left.columns:
        a, b = left[column].to_numpy(dtype=object), right[column].to_numpy(dtype=object)
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            if pd.isna(x) if np.isscalar(x) or x is None else False:
                assert y is None or (np.isscalar(y) and pd.isna(y)), (column, i, x, y)
            elif isinstance(x, float) or isinstance(y, float):
                assert x == pytest.approx(y, rel=1e-12, abs=1e-9), (column, i, x, y)
            else:
                assert x == y, (column, i, x, y)


def _keyed(invoices: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.reset_index(drop=True).copy()
    out.insert(0, "invoice_key", invoices["invoice_key"].to_numpy())
    out.insert(0, "day", DAY)
    return out


def test_every_stage_row_the_assets_store_is_what_evaluate_computes(evaluated) -> None:
    store, invoices, result = evaluated
    assert {"ok", "failed"} <= set(invoices["status"])  # the day holds failures too

    validations = _keyed(
        invoices, invoice_facts(result.breakdown, result.mismatch, result.validation)
    )
    validations["errors_json"], validations["warnings_json"] = issues_as_json(
        result.issues, len(invoices)
    )
    _same(store.read_stage("validations", [DAY]), validations, ["invoice_key"])
    _same(store.read_stage("offers", [DAY]), _keyed(invoices, result.offers), ["invoice_key"])
    _same(
        store.read_stage("quality_scores", [DAY]),
        _keyed(invoices, result.scores),
        ["invoice_key"],
    )

    rows = result.flags["row"].to_numpy()
    flags = result.flags.drop(columns=["row"]).assign(
        day=DAY, invoice_key=invoices["invoice_key"].to_numpy()[rows]
    )
    _same(store.read_stage("flags", [DAY]), flags, ["invoice_key", "flag"])


def test_every_incident_the_assets_store_is_what_evaluate_computes(evaluated) -> None:
    store, _, result = evaluated
    stored = pd.DataFrame(store.list_incidents(day=DAY, limit=10_000))
    computed = result.incidents.drop(columns=["row"])
    assert set(computed["severity"]) >= {"S1", "S2"}
    for column in ("secondary_flags", "action_hint", "mismatch_info"):  # JSON in the store
        stored[column] = [
            json.dumps(v, sort_keys=True) if v is not None else None for v in stored[column]
        ]
        computed[column] = [
            json.dumps(v, sort_keys=True) if v is not None else None for v in computed[column]
        ]
    _same(stored[list(INCIDENT_COLUMNS)], computed[list(INCIDENT_COLUMNS)], ["dedupe_key"])
