"""Materialising the asset graph in-process against a test environment."""

from __future__ import annotations

import dagster as dg

from invoice_assets.definitions import build_assets, build_resources
from invoice_assets.services.partitions import DailyLayout
from invoice_assets.services.settings import Settings
from resources.store import InvoiceStore


def graph_assets() -> list[dg.AssetsDefinition]:
    return build_assets(DailyLayout())


def materialize_day(env: dict[str, str], day: str) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        graph_assets(),
        partition_key=day,
        resources=build_resources(env),
        instance=dg.DagsterInstance.ephemeral(),
    )


def store_for(env: dict[str, str]) -> InvoiceStore:
    return Settings.from_env(env).store()
