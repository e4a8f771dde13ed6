"""Supplier table resource: the known suppliers of ``config/suppliers.yaml`` (SPEC §4.1), or of
the file named by ``INVOICE_SUPPLIERS_FILE``.

Reads and checks the file (unknown keys, malformed tax ids, a name or alias naming two suppliers
fail loudly with every problem listed) and returns the domain's ``SupplierDirectory``. Read when
asked, never at import; cached per file path and modification time, so an edited table is read
again by a long-running process.

Not for: the folding rule or the id precedence (``invoice_assets/domain/suppliers.py``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Annotated

import dagster as dg
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from invoice_assets.domain.suppliers import KnownSupplier, SupplierDirectory, SupplierTableError

SUPPLIERS_FILE = Path(__file__).resolve().parent.parent / "config" / "suppliers.yaml"
Name = Annotated[str, Field(min_length=1, max_length=512)]


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    aliases: list[Name] = []
    tax_ids: list[str] = []


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid")

    suppliers: list[_Entry]


@cache
def _load(path: str, _mtime_ns: int) -> SupplierDirectory:
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        table = _Table.model_validate(raw)
        return SupplierDirectory.of(
            KnownSupplier(e.name, tuple(e.aliases), tuple(e.tax_ids)) for e in table.suppliers
        )
    except (OSError, yaml.YAMLError, ValidationError, ValueError) as exc:
        raise SupplierTableError(f"{path}: {exc}") from exc


def suppliers_file(env: Mapping[str, str] | None = None) -> Path:
    """The table in use: ``INVOICE_SUPPLIERS_FILE``, else the shipped ``config/suppliers.yaml``."""
    env = os.environ if env is None else env
    return Path(env.get("INVOICE_SUPPLIERS_FILE") or SUPPLIERS_FILE)


def load_suppliers(path: Path | str | None = None) -> SupplierDirectory:
    """The checked supplier table of ``path`` (default: ``suppliers_file()``);
    ``SupplierTableError`` when it is unusable."""
    path = suppliers_file() if path is None else path
    try:
        mtime = Path(path).stat().st_mtime_ns
    except OSError as exc:
        raise SupplierTableError(f"{path}: {exc}") from exc
    return _load(str(path), mtime)


class SuppliersResource(dg.ConfigurableResource):
    """Known suppliers: their names, aliases and tax ids, for canonical supplier ids."""

    path: str = Field(
        default=str(SUPPLIERS_FILE),
        description="YAML table of known suppliers (name, aliases, tax_ids); see the file.",
    )

    def load(self) -> SupplierDirectory:
        """The validated supplier directory."""
        return load_suppliers(self.path)
