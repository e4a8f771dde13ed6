"""Canonical supplier ids for rows already stored (SPEC §4.1), losing nothing.

Runs as schema 4's migration step (version-3 keys hold the printed name: ``CK Bogazici|INV|P``
and ``ck bogazici|INV|P`` were two invoices) and after an edit of the supplier table
(``invoice-ops suppliers rekey``: a newly listed alias or tax id names another supplier), always
inside one transaction:

* Stage rows (extractions, line items, validations, offers, scores, flags) whose key starts with
  their supplier's id (the printed name before version 4) take the key of the id the table gives
  now, day by day. Where two rows of one day now share a key (one invoice printed two ways), the
  row already holding it, else the first by (source file, line), takes it; the others keep their
  key (nothing is dropped) until the day is extracted again and they become ``duplicate_invoice``.
* Incidents follow their invoice's new key (and dedupe key). Incidents that now share a dedupe key
  are merged into one, the **survivor**: the one with the most operator work (feedback, then a
  manual resolution, then an acknowledgement), else the first raised (lowest id). The survivor
  keeps its own status, resolution, feedback and recompute counts (never mixed from two
  incidents); it takes the group's earliest day and first_seen_at, latest last_seen_at and summed
  occurrence count. Every other member is written, as it was, to ``incident_merges`` and deleted.
* Every row gets the table's ``supplier_id`` and shows a known supplier's table name.

Not for: the folding rule (``invoice_assets/domain/suppliers.py``) or incident decisions.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Column, MetaData, Table, Text, and_, delete, exists, func, insert, or_
from sqlalchemy import select as sql_select
from sqlalchemy import update as sql_update
from sqlalchemy.engine import Connection

from invoice_assets.domain.incidents import ACK, MANUAL_RESOLVED, RESOLVED, dedupe_key
from invoice_assets.domain.suppliers import SupplierDirectory
from resources import store_schema as s

if TYPE_CHECKING:
    from resources.store import InvoiceStore

REASON = "canonical supplier id"


def rekey_store(store: InvoiceStore, suppliers: SupplierDirectory) -> dict[str, int]:
    """``rekey_suppliers`` on ``store`` in one transaction (after the supplier table changed)."""
    store.ensure_schema()
    with store.engine.begin() as conn:
        return rekey_suppliers(conn, suppliers)


def rekey_suppliers(conn: Connection, suppliers: SupplierDirectory | None = None) -> dict[str, int]:
    """Re-key stage rows and incidents with ``suppliers`` (default: the shipped table), merge
    incidents made one and name every supplier; what changed, counted."""
    if suppliers is None:
        from resources.suppliers import load_suppliers

        suppliers = load_suppliers()
    keys, moved = _rekey_stage_rows(conn, suppliers)
    x = s.extractions
    printed: Sequence[Any] = conn.execute(  # (name, id, tax id) as extraction rows hold them
        sql_select(x.c.supplier, x.c.supplier_id, x.c.supplier_tax_id)
        .where(x.c.supplier.is_not(None))
        .distinct()
    ).all()
    # each stored id (the printed name before version 4) → the id the table gives it now
    ids = {sid or name: suppliers.resolve_one(name, tax).id for name, sid, tax in printed}
    rekeyed, merged = _rekey_incidents(conn, suppliers, keys, datetime.now(UTC))
    renamed = _name_extractions(conn, suppliers, printed) + _name_incidents(conn, suppliers, ids)
    return {
        "invoice_keys_changed": moved,
        "incidents_rekeyed": rekeyed,
        "incidents_merged": merged,
        "rows_renamed": renamed,
    }


def _rest(key: str, prefix: str | None) -> str | None:
    """``|<number>|<period>`` of a key that starts with ``prefix|``, else None."""
    return key[len(prefix) :] if prefix and key.startswith(f"{prefix}|") else None


def _rekey_stage_rows(conn: Connection, suppliers: SupplierDirectory) -> tuple[dict, int]:
    """Move stage rows to their new keys; returns (old key → new key, rows moved per table)."""
    x = s.extractions
    rows: Sequence[Any] = conn.execute(
        sql_select(x.c.day, x.c.invoice_key, x.c.supplier, x.c.supplier_id, x.c.supplier_tax_id)
        .where(
            x.c.status == "ok",
            x.c.supplier.is_not(None),
            or_(x.c.ettn.is_(None), x.c.ettn == ""),
        )
        .order_by(x.c.day, x.c.source_file, x.c.line_no)
    ).all()
    keys: dict[str, str] = {}
    groups: dict[tuple[str, str], list[str]] = {}  # (day, new key) → old keys, in file order
    for day, key, printed, sid, tax_id in rows:
        rest = _rest(key, sid or printed)
        if rest is None:
            continue
        new = suppliers.resolve_one(printed, tax_id).id + rest
        if new != key:
            keys.setdefault(key, new)
        groups.setdefault((day, new), []).append(key)
    moves = [
        {"day": day, "old_key": olds[0], "new_key": new}
        for (day, new), olds in groups.items()
        if new not in olds  # else the row already holding it keeps it
    ]
    if not moves:
        return keys, 0
    keymap = _temporary(conn, "rekey_map", ["day", "old_key"], ["new_key"], moves)
    # A key another row of the day still holds is never taken (no chain of moves, no clash).
    held = exists().where(x.c.day == keymap.c.day, x.c.invoice_key == keymap.c.new_key)
    conn.execute(delete(keymap).where(held))
    moved = conn.execute(sql_select(func.count()).select_from(keymap)).scalar_one()
    for table in s.STAGE_TABLES.values():
        match = and_(keymap.c.day == table.c.day, keymap.c.old_key == table.c.invoice_key)
        conn.execute(
            sql_update(table)
            .where(exists().where(match))
            .values(invoice_key=sql_select(keymap.c.new_key).where(match).scalar_subquery())
        )
    keymap.drop(conn)
    return keys, int(moved)


def _work(row: Any) -> tuple[int, int]:
    """Sort key of a merge candidate: most operator work first, then the first raised."""
    if row.feedback_at is not None:
        rank = 0
    elif row.status == RESOLVED and row.resolution_reason == MANUAL_RESOLVED:
        rank = 1
    elif row.status == ACK:
        rank = 2
    else:
        rank = 3
    return rank, int(row.incident_id)


def _rekey_incidents(
    conn: Connection, suppliers: SupplierDirectory, keys: dict[str, str], now: datetime
) -> tuple[int, int]:
    """Incidents follow their invoice's new key; those made one are merged. Returns (incidents
    re-keyed, incidents merged into another)."""
    i = s.incidents
    renamed: dict[int, tuple[str, str]] = {}  # incident id → (invoice key, dedupe key)
    groups: dict[str, list[Any]] = {}  # new dedupe key → incidents
    for row in conn.execute(sql_select(i).where(i.c.supplier.is_not(None))).all():
        new = keys.get(row.invoice_key)
        rest = _rest(row.invoice_key, row.supplier) if row.supplier_id is None else None
        if new is None and rest is not None:  # a version-3 incident whose invoice is gone
            new = suppliers.resolve_one(row.supplier).id + rest
        if new is None or new == row.invoice_key:
            continue
        renamed[row.incident_id] = (new, dedupe_key(row.tenant, new, row.primary_flag))
        groups.setdefault(renamed[row.incident_id][1], []).append(row)
    # Incidents that already hold a new dedupe key and keep it join its group.
    wanted = list(groups)
    for start in range(0, len(wanted), 1_000):
        chunk = wanted[start : start + 1_000]
        for row in conn.execute(sql_select(i).where(i.c.dedupe_key.in_(chunk))).all():
            if row.incident_id not in renamed:
                groups[row.dedupe_key].append(row)
    # Renamed incidents first leave their old dedupe keys, so no final key is ever held twice.
    for number in renamed:
        conn.execute(
            sql_update(i).where(i.c.incident_id == number).values(dedupe_key=f"rekey-{number}")
        )
    merged = 0
    for members in groups.values():
        survivor, *others = sorted(members, key=_work)
        values: dict[str, Any] = {}
        if survivor.incident_id in renamed:
            values["invoice_key"], values["dedupe_key"] = renamed[survivor.incident_id]
        if others:
            merged += len(others)
            values |= {
                "day": min(m.day for m in members),
                "first_seen_at": min(m.first_seen_at for m in members),
                "last_seen_at": max(m.last_seen_at for m in members),
                "occurrence_count": sum(int(m.occurrence_count) for m in members),
                "updated_at": now,
            }
            _record_merges(conn, survivor.incident_id, others, now)
        if values:
            conn.execute(
                sql_update(i).where(i.c.incident_id == survivor.incident_id).values(**values)
            )
    return len(renamed), merged


def _record_merges(conn: Connection, survivor: int, others: list[Any], now: datetime) -> None:
    """Keep each merged incident as it was in ``incident_merges``, then delete it."""
    conn.execute(
        insert(s.incident_merges),
        [
            {
                "merged_at": now,
                "survivor_id": survivor,
                "merged_incident_id": m.incident_id,
                "reason": REASON,
                "incident_json": json.dumps(dict(m._mapping), default=str),
            }
            for m in others
        ],
    )
    i = s.incidents
    conn.execute(delete(i).where(i.c.incident_id.in_([m.incident_id for m in others])))


def _name_extractions(conn: Connection, suppliers: SupplierDirectory, found: Sequence[Any]) -> int:
    """Extraction rows (``found``: their distinct name, id and tax id): the id and shown name the
    table gives their name and tax id."""
    x = s.extractions
    names = []
    for printed, sid, tax in found:
        who = suppliers.resolve_one(printed, tax)
        if (who.name, who.id) != (printed, sid):
            names.append({"name": printed, "other": tax or "", "shown": who.name, "sid": who.id})
    return _rename(conn, x, func.coalesce(x.c.supplier_tax_id, ""), names)


def _name_incidents(conn: Connection, suppliers: SupplierDirectory, ids: dict[str, str]) -> int:
    """Incidents: the id their suppliers' extraction rows now have (a version-3 incident without
    one: its printed name's), shown by the table name of a known supplier."""
    i = s.incidents
    found: Sequence[Any] = conn.execute(
        sql_select(i.c.supplier, i.c.supplier_id).where(i.c.supplier.is_not(None)).distinct()
    ).all()
    names = []
    for shown, sid in found:
        new = ids.get(sid or shown) or sid or suppliers.resolve_one(shown).id
        name = suppliers.names.get(new, shown)
        if (name, new) != (shown, sid):
            names.append({"name": shown, "other": sid or "", "shown": name, "sid": new})
    return _rename(conn, i, func.coalesce(i.c.supplier_id, ""), names)


def _rename(conn: Connection, table: Table, other: Any, names: list[dict]) -> int:
    """Set ``supplier`` and ``supplier_id`` (to ``shown``, ``sid``) of the rows whose supplier is
    a name entry's ``name`` and whose ``other`` column is its ``other``: one statement whatever
    the number of names. Returns the rows changed."""
    if not names:
        return 0
    named = _temporary(conn, f"{table.name}_names", ["name", "other"], ["shown", "sid"], names)
    hit = and_(named.c.name == table.c.supplier, named.c.other == other)
    changed = conn.execute(
        sql_update(table)
        .where(exists().where(hit))
        .values(
            supplier=sql_select(named.c.shown).where(hit).scalar_subquery(),
            supplier_id=sql_select(named.c.sid).where(hit).scalar_subquery(),
        )
    ).rowcount
    named.drop(conn)
    return int(changed)


def _temporary(
    conn: Connection, name: str, keys: list[str], values: list[str], rows: list[dict[str, Any]]
) -> Table:
    """A temporary table keyed by ``keys`` holding ``rows`` (dropped by the caller)."""
    table = Table(
        name,
        MetaData(),
        *(Column(k, Text, primary_key=True) for k in keys),
        *(Column(v, Text, nullable=False) for v in values),
        prefixes=["TEMPORARY"],
    )
    table.create(conn)
    conn.execute(insert(table), rows)
    return table
