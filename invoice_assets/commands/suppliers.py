"""``invoice-ops suppliers``: the supplier table (``config/suppliers.yaml``) and canonical ids.

``check`` validates the table, ``resolve`` says which supplier id and shown name a printed name
(and tax id) gets, ``rekey`` brings the stored invoices and incidents to the ids of the table as
it is now (after an edit: an alias or a tax id that names another supplier). A broken table
exits 2 with every problem.

Not for: the folding rule (``invoice_assets/domain/suppliers.py``) or the re-keying itself
(``resources/store/rekey.py``).
"""

from __future__ import annotations

import click

from invoice_assets.commands.common import emit, fail
from invoice_assets.domain.suppliers import SupplierDirectory
from invoice_assets.services.settings import Settings


def _table() -> SupplierDirectory:
    from invoice_assets.domain.suppliers import SupplierTableError
    from resources.suppliers import load_suppliers

    try:
        return load_suppliers()
    except SupplierTableError as exc:
        fail(str(exc))
        raise  # unreachable


@click.group()
def suppliers() -> None:
    """Known suppliers and canonical supplier ids (SPEC §4.1)."""


@suppliers.command("check")
@click.option("--json", "as_json", is_flag=True)
def check(as_json: bool) -> None:
    """Validate config/suppliers.yaml (exit 2 lists every conflict)."""
    table = _table()
    names = dict(sorted(table.names.items()))
    lines = [f"{len(names)} known suppliers"] + [
        f"  {sid:<36} {name}" for sid, name in names.items()
    ]
    emit({"suppliers": names}, as_json, "\n".join(lines))


@suppliers.command("resolve")
@click.argument("printed")
@click.option("--tax-id", default=None, help="The supplier's VKN/TCKN, when the invoice prints it.")
@click.option("--json", "as_json", is_flag=True)
def resolve(printed: str, tax_id: str | None, as_json: bool) -> None:
    """The supplier id and shown name a printed supplier name gets."""
    table = _table()
    who = table.resolve_one(printed, tax_id)
    known = who.id in table.names
    data = {"printed": printed, "supplier_id": who.id, "supplier": who.name, "known": known}
    emit(data, as_json, f"{who.id}  {who.name}  ({'known' if known else 'not in the table'})")


@suppliers.command("rekey")
@click.option("--json", "as_json", is_flag=True)
def rekey(as_json: bool) -> None:
    """Re-key stored invoices and incidents with the table as it is now (one transaction)."""
    from resources.store.rekey import rekey_store

    counts = rekey_store(Settings.from_env().store(), _table())
    emit(counts, as_json, "\n".join(f"{k}: {v}" for k, v in counts.items()))
