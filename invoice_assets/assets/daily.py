"""How a daily asset is declared, built for a partition layout, and how it reports each day.

An asset module writes its compute function and declares it with ``@daily_asset(...)``; the
definitions build it for the configured ``DailyLayout`` (partition start, backfill policy), so
no module reads the settings at import.

``DayReport`` is what makes the UI true per day in a range run: each day's figures go on that
day's materialization (partition-scoped metadata), each check is evaluated per day and its
evaluation attached to that day, and what describes the whole range is labelled as the range.
Dagster gives every partition of a range run the one ``MaterializeResult``'s metadata
(dagster-io/dagster#18123), and an ``AssetCheckResult`` in a range run carries no partition.

Not for: reading stage frames (``invoice_assets.assets.reads``) or business rules (the domain).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
from sqlalchemy import Table

from invoice_assets.services.partitions import DailyLayout, partition_days

OWNERS = ["team:invoice-ops"]
KINDS = {"python", "pandas", "sql"}
STORE_NAME = "invoice_store"


@dataclass(frozen=True)
class Check:
    """An asset check declared with its asset: evaluated per day, attached to that day."""

    name: str
    description: str
    blocking: bool = False


@dataclass(frozen=True)
class DailyAsset:
    """A daily asset's compute function and its shape, built for a layout by ``build``."""

    compute: Callable[..., Any]
    group: str
    deps: tuple[str, ...]
    checks: tuple[Check, ...]
    tables: tuple[Table, ...]
    pool: str | None = None

    @property
    def name(self) -> str:
        return self.compute.__name__

    def build(self, layout: DailyLayout) -> dg.AssetsDefinition:
        return dg.asset(
            name=self.name,
            partitions_def=layout.partitions,
            backfill_policy=layout.backfill_policy,
            group_name=self.group,
            owners=OWNERS,
            kinds=KINDS,
            deps=list(self.deps),
            pool=self.pool,
            metadata=table_metadata(self.tables),
            check_specs=[
                dg.AssetCheckSpec(
                    check.name,
                    asset=self.name,
                    description=check.description,
                    blocking=check.blocking,
                    partitions_def=layout.partitions,
                )
                for check in self.checks
            ],
        )(self.compute)


def daily_asset(
    *,
    group: str,
    tables: Sequence[Table],
    deps: Sequence[str] = (),
    checks: Sequence[Check] = (),
    pool: str | None = None,
) -> Callable[[Callable[..., Any]], DailyAsset]:
    """Declare a daily asset; its docstring is its description in the UI."""

    def declare(compute: Callable[..., Any]) -> DailyAsset:
        return DailyAsset(compute, group, tuple(deps), tuple(checks), tuple(tables), pool)

    return declare


def table_metadata(tables: Sequence[Table]) -> dict[str, Any]:
    """``dagster/table_name`` and ``dagster/column_schema`` of the store table an asset writes
    (the first), and the other tables it writes beside it."""
    if not tables:
        return {}
    main, *others = tables
    out: dict[str, Any] = {
        "dagster/table_name": f"{STORE_NAME}.{main.name}",
        "dagster/column_schema": dg.TableSchema(
            columns=[
                dg.TableColumn(
                    column.name,
                    str(column.type).lower(),
                    constraints=dg.TableColumnConstraints(nullable=bool(column.nullable)),
                )
                for column in main.columns
            ]
        ),
    }
    if others:
        out["also_writes"] = ", ".join(f"{STORE_NAME}.{t.name}" for t in others)
    return out


def rounded(value: float, digits: int = 4) -> float:
    """A rate for reading in the UI (still a float, so the UI plots it across partitions)."""
    return round(float(value), digits)


@dataclass
class DayReport:
    """What one run of a daily asset says about each of its days.

    ``day`` puts a day's own figures on that day's materialization; ``check`` records a day's
    check result; ``results`` yields the materialization, the check outputs and one check
    evaluation per (check, day), each attached to its day.
    """

    context: dg.AssetExecutionContext
    days: list[str] = field(init=False)
    _figures: dict[str, dict[str, Any]] = field(init=False, default_factory=dict)
    _checks: list[tuple[str, dg.AssetCheckResult]] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        self.days = partition_days(self.context)

    def day(self, day: str, metadata: Mapping[str, Any]) -> None:
        self.context.add_asset_metadata(dict(metadata), partition_key=day)
        self._figures[day] = dict(metadata)

    def check(self, day: str, result: dg.AssetCheckResult) -> None:
        self._checks.append((day, result))

    def results(self) -> Iterator[Any]:
        missing = [d for d in self.days if d not in self._figures]
        if missing:
            raise RuntimeError(f"no figures reported for {missing}")  # a bug in the asset
        yield dg.MaterializeResult(metadata=self._range_metadata())
        assets_def = self.context.assets_def
        selected = self.context.selected_asset_check_keys
        specs = {
            spec.name: (output, spec)
            for output, spec in assets_def.check_specs_by_output_name.items()
            if spec.key in selected
        }
        for output, _ in specs.values():
            yield dg.Output(None, output_name=output)
        evaluated: set[tuple[str, str]] = set()
        for day, result in self._checks:
            name = str(result.check_name)
            if name not in specs:
                continue
            spec = specs[name][1]
            evaluated.add((name, day))
            yield dg.AssetCheckEvaluation(
                asset_key=spec.asset_key,
                check_name=name,
                passed=result.passed,
                metadata=result.metadata,
                severity=result.severity,
                description=result.description,
                blocking=spec.blocking,
                partition=day,
            )
        unevaluated = sorted({(n, d) for n in specs for d in self.days} - evaluated)
        if unevaluated:
            raise RuntimeError(f"checks not evaluated: {unevaluated}")  # a bug in the asset

    def _range_metadata(self) -> dict[str, Any]:
        """One day: nothing beyond the day's own figures. A range: labelled as the range, with
        a table of every day's figures (each day's own figures are on its own partition)."""
        if len(self.days) == 1:
            return {}
        numeric = [
            key
            for key, value in self._figures[self.days[0]].items()
            if isinstance(value, int | float) and not isinstance(value, bool)
        ]
        header = ["day", *(k.removeprefix("dagster/") for k in numeric)]
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for day in self.days:
            row = [day, *(_cell(self._figures[day].get(k)) for k in numeric)]
            lines.append("| " + " | ".join(row) + " |")
        return {
            "range": f"{self.days[0]} .. {self.days[-1]}",
            "range_days": len(self.days),
            "range_by_day": dg.MetadataValue.md("\n".join(lines)),
        }


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)
