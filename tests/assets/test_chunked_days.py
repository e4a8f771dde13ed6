"""A day processed in many chunks stores and reports exactly what the same day in one chunk does.

The stages read, compute and write a day in chunks of invoice keys (``INVOICE_CHUNK_INVOICES``)
and the extractions write its files in batches (``InboxExtractor.batch_bytes``), parsed a few at a
time (``parse_bytes``). Here the same inbox goes through the asset graph twice on each backend, on
two stores: once with the defaults (one chunk, one batch) and once with chunks of 7 invoices and
batches of ~4 files, each parsed alone. A range run of two days, then a rerun of the first
(incidents reconciled against stored ones, with an operator's resolution in between): every stage
row, every incident, every day's materialization figures and check evaluations must be the same.
Only measured durations (``extraction_ms`` and what is computed from it) may differ between two
runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from sqlalchemy import select

from invoice_assets.definitions import build_resources
from invoice_assets.demo import generate_demo
from invoice_assets.services.materialise import RANGE_END, RANGE_START
from resources.clock import ClockResource
from resources.extractor import InboxExtractor
from resources.store import schema as s
from tests.assets.helpers import graph_assets, store_for
from tests.conftest import throwaway_database

DAYS = ["2026-11-24", "2026-11-25"]
FROZEN = "2026-12-01T09:00:00+00:00"
SMALL_CHUNK = 7
MEASURED = {"extraction_ms"}  # wall time of each parse: differs run to run
ASSETS = [
    "extractions",
    "validated_invoices",
    "offers",
    "quality_scores",
    "incidents",
    "run_summary",
    "system_health_report",
]


@contextmanager
def _second_env(env: dict[str, str], tmp_path: Path) -> Iterator[dict[str, str]]:
    """Another store of the same backend, with the same inbox copied in."""
    other = dict(env, INVOICE_HOME=str(tmp_path / "chunked"))
    if "INVOICE_DB_URL" in env:
        with throwaway_database() as url:
            yield dict(other, INVOICE_DB_URL=url)
    else:
        yield other


def _run(env: dict[str, str], days: list[str], chunked: bool) -> dg.DagsterInstance:
    resources = build_resources(env)
    resources["clock"] = ClockResource(frozen_at=FROZEN)
    if chunked:
        resources["store"] = resources["store"].model_copy(  # type: ignore[attr-defined]
            update={"chunk_invoices": SMALL_CHUNK}
        )
        # A few files per write batch, each parsed alone (its rows joined to the batch's).
        resources["extractor"] = InboxExtractor(batch_bytes=8_000, parse_bytes=1)
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        graph_assets(),
        resources=resources,
        instance=instance,
        tags={RANGE_START: days[0], RANGE_END: days[-1]},
    )
    assert result.success
    return instance


def _stored(env: dict[str, str]) -> dict[str, pd.DataFrame]:
    store = store_for(env)
    out = {}
    for name, table in s.STAGE_TABLES.items():
        keys = [c.name for c in table.primary_key.columns]
        frame = store.read_stage(name, DAYS).drop(columns=sorted(MEASURED & set(table.c.keys())))
        out[name] = frame.sort_values(keys, kind="stable").reset_index(drop=True)
    with store.engine.connect() as conn:
        incidents = pd.DataFrame(
            [dict(r._mapping) for r in conn.execute(select(s.incidents))]
        ).sort_values("dedupe_key", kind="stable")
    out["incidents"] = incidents.reset_index(drop=True)
    return out


def _reported(instance: dg.DagsterInstance, days: list[str]) -> dict[tuple[str, str], object]:
    """Every day's latest materialization figures (but measured latencies) and check
    evaluations."""
    out: dict[tuple[str, str], object] = {}
    for asset in ASSETS:
        for day in days:
            records = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[day]),
                limit=1,
            ).records
            metadata = records[0].asset_materialization.metadata  # type: ignore[union-attr]
            out[(asset, day)] = {
                k: v.value for k, v in metadata.items() if "latency" not in k and "p95" not in k
            }
    for asset in ("extractions", "offers", "incidents", "run_summary"):
        for spec in _check_names(asset):
            key = dg.AssetCheckKey(dg.AssetKey(asset), spec)
            history = instance.event_log_storage.get_asset_check_execution_history(key, limit=100)
            for record in history:
                evaluation = record.event.dagster_event.event_specific_data  # type: ignore[union-attr]
                out[(f"{asset}:{spec}", evaluation.partition)] = (
                    evaluation.passed,
                    evaluation.description,
                    {k: v.value for k, v in evaluation.metadata.items()},
                )
    return out


def _check_names(asset: str) -> list[str]:
    defs = {a.key.to_user_string(): a for a in graph_assets()}
    return [spec.name for spec in defs[asset].check_specs]


def _same_frames(left: pd.DataFrame, right: pd.DataFrame, name: str) -> None:
    assert list(left.columns) == list(right.columns), name
    assert len(left) == len(right) > 0, name
    pd.testing.assert_frame_equal(left, right, check_exact=True, obj=name)


def _resolve_one(env: dict[str, str]) -> None:
    """An operator resolves the first open incident: the rerun must keep that in both stores."""
    store = store_for(env)
    first = min(i["incident_id"] for i in store.list_incidents(status="OPEN", limit=10_000))
    at = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    store.set_incident_status(first, "ACK", None, at)
    store.set_incident_status(first, "RESOLVED", "fixed_by_operator", at)


@pytest.fixture
def two_stores(tmp_path: Path, env: dict[str, str], apply_env):
    apply_env(env)
    inbox = Path(env["INVOICE_HOME"]) / "inbox"
    generate_demo(inbox, DAYS[:1], 60, seed=23)
    generate_demo(inbox, DAYS[1:], 45, seed=24)
    with _second_env(env, tmp_path) as chunked:
        other_inbox = Path(chunked["INVOICE_HOME"]) / "inbox"
        for day in DAYS:
            (other_inbox / day).mkdir(parents=True)
            for file in sorted((inbox / day).iterdir()):
                (other_inbox / day / file.name).write_bytes(file.read_bytes())
        yield env, chunked


def test_a_multi_chunk_day_stores_and_reports_what_a_one_chunk_day_does(two_stores) -> None:
    whole, chunked = two_stores
    assert store_for(whole).chunk_invoices > 1_000  # the default holds each demo day at once
    reports = [_run(whole, DAYS, False), _run(chunked, DAYS, True)]
    for day in DAYS:  # many chunks per day
        assert len(store_for(whole).read_stage("extractions", [day])) > 5 * SMALL_CHUNK
        assert len(store_for(chunked).key_bounds(day, SMALL_CHUNK)) >= 5
    days = DAYS
    for phase in ("range run", "rerun"):
        ours, theirs = _stored(whole), _stored(chunked)
        for name in ours:
            _same_frames(ours[name], theirs[name], f"{phase}: {name}")
        left, right = (_reported(r, days) for r in reports)
        assert left.keys() == right.keys()
        for key in left:
            assert left[key] == right[key], (phase, key)
        if phase == "range run":
            for env in (whole, chunked):
                _resolve_one(env)
            days = DAYS[:1]
            reports = [_run(whole, days, False), _run(chunked, days, True)]


def test_the_chunk_size_comes_from_the_environment_and_a_bad_one_names_the_variable(
    tmp_path: Path,
) -> None:
    from invoice_assets.services.settings import Settings, SettingsError

    home = {"INVOICE_HOME": str(tmp_path)}
    assert Settings.from_env(home).store().chunk_invoices == 100_000
    assert (
        Settings.from_env(home | {"INVOICE_CHUNK_INVOICES": "5000"}).store().chunk_invoices == 5000
    )
    for bad in ("0", "-5", "1e5", "lots", "١٠"):
        with pytest.raises(SettingsError, match="INVOICE_CHUNK_INVOICES"):
            Settings.from_env(home | {"INVOICE_CHUNK_INVOICES": bad}).store()
