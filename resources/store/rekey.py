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

Memory follows one day of keys and the incidents without ETTN (their light columns); every write
is set-based (a temporary table and one statement per table), whatever the number of rows.

Not for: the folding rule (``invoice_assets/domain/suppliers.py``) or incident decisions.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    Table,
    Text,
    and_,
    cast,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
)
from sqlalchemy import select as sql_select
from sqlalchemy import update as sql_update
from sqlalchemy.engine import Connection, Engine

from invoice_assets.domain.incidents import ACK, MANUAL_RESOLVED, RESOLVED, dedupe_key
from invoice_assets.domain.suppliers import TAX_ID, SupplierDirectory
from invoice_assets.kernel.clock import SYSTEM_CLOCK
from resources.store import schema as s
from resources.store.incidents import serialise_incident_writes


class _Store(Protocol):
    """What ``rekey_store`` needs of an ``InvoiceStore`` (whose engine ensures the schema)."""

    @property
    def engine(self) -> Engine: ...


REASON = "canonical supplier id"
CHUNK = 1_000  # ids per IN (…) list


def rekey_store(store: _Store, suppliers: SupplierDirectory) -> dict[str, int]:
    """``rekey_suppliers`` on ``store`` in one transaction (after the supplier table changed)."""
    with store.engine.begin() as conn:
        return rekey_suppliers(conn, suppliers)


def rekey_suppliers(conn: Connection, suppliers: SupplierDirectory | None = None) -> dict[str, int]:
    """Re-key stage rows and incidents with ``suppliers`` (default: the table in use), merge
    incidents made one and name every supplier; what changed, counted."""
    if suppliers is None:
        from resources.suppliers import load_suppliers

        suppliers = load_suppliers()
    serialise_incident_writes(conn)  # a run's incident write waits until this one commits
    x = s.extractions
    printed: Sequence[Any] = conn.execute(  # (name, id, tax id) as extraction rows hold them
        sql_select(x.c.supplier, x.c.supplier_id, x.c.supplier_tax_id)
        .where(x.c.supplier.is_not(None))
        .distinct()
    ).all()
    # each stored id (the printed name before version 4) → the id the table gives it now
    ids = {sid or name: suppliers.resolve_one(name, tax).id for name, sid, tax in printed}
    taxed = _taxed_keys(conn, suppliers)  # before the stage rows move
    moved = _rekey_stage_rows(conn, suppliers)
    rekeyed, merged = _rekey_incidents(conn, suppliers, taxed, SYSTEM_CLOCK.now())
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


_NO_ETTN = or_(s.extractions.c.ettn.is_(None), s.extractions.c.ettn == "")


def _taxed_keys(conn: Connection, suppliers: SupplierDirectory) -> dict[str, str]:
    """The new key of each invoice identified with a tax id (only its extraction row knows the
    tax id; an incident is re-keyed from its name otherwise)."""
    x = s.extractions
    rows: Sequence[Any] = conn.execute(
        sql_select(x.c.invoice_key, x.c.supplier, x.c.supplier_id, x.c.supplier_tax_id).where(
            x.c.status == "ok", x.c.supplier_tax_id.is_not(None), _NO_ETTN
        )
    ).all()
    keys = {}
    for key, name, sid, tax in rows:
        rest = _rest(key, sid or name)
        if rest is not None:
            keys[key] = suppliers.resolve_one(name, tax).id + rest
    return keys


def _rekey_stage_rows(conn: Connection, suppliers: SupplierDirectory) -> int:
    """Move stage rows to their new keys, one day's keys in memory at a time; rows moved."""
    x = s.extractions
    keymap = _temporary(
        conn, "rekey_map", [_text("day", key=True), _text("old_key", key=True), _text("new_key")]
    )
    days: list[str] = list(conn.execute(sql_select(x.c.day).distinct()).scalars())
    for day in days:
        rows: Sequence[Any] = conn.execute(
            sql_select(x.c.invoice_key, x.c.supplier, x.c.supplier_id, x.c.supplier_tax_id)
            .where(x.c.day == day, x.c.status == "ok", x.c.supplier.is_not(None), _NO_ETTN)
            .order_by(x.c.source_file, x.c.line_no)
        ).all()
        groups: dict[str, list[str]] = {}  # new key → old keys, in file order
        for key, name, sid, tax in rows:
            rest = _rest(key, sid or name)
            if rest is not None:
                groups.setdefault(suppliers.resolve_one(name, tax).id + rest, []).append(key)
        moves = [
            {"day": day, "old_key": olds[0], "new_key": new}
            for new, olds in groups.items()
            if new not in olds  # else the row already holding it keeps it
        ]
        if moves:
            conn.execute(insert(keymap), moves)
    # A key another row of the day still holds is never taken (no chain of moves, no clash).
    held = exists().where(x.c.day == keymap.c.day, x.c.invoice_key == keymap.c.new_key)
    conn.execute(delete(keymap).where(held))
    moved = int(conn.execute(sql_select(func.count()).select_from(keymap)).scalar_one())
    for table in s.STAGE_TABLES.values() if moved else ():
        match = and_(keymap.c.day == table.c.day, keymap.c.old_key == table.c.invoice_key)
        conn.execute(
            sql_update(table)
            .where(exists().where(match))
            .values(invoice_key=sql_select(keymap.c.new_key).where(match).scalar_subquery())
        )
    keymap.drop(conn)
    return moved


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


def _incident_columns() -> list[Any]:
    i = s.incidents
    names = (
        "incident_id",
        "tenant",
        "invoice_key",
        "dedupe_key",
        "supplier",
        "supplier_id",
        "primary_flag",
        "day",
        "status",
        "resolution_reason",
        "feedback_at",
        "first_seen_at",
        "last_seen_at",
        "occurrence_count",
    )
    return [i.c[n] for n in names]


def _rekey_incidents(
    conn: Connection, suppliers: SupplierDirectory, taxed: dict[str, str], now: datetime
) -> tuple[int, int]:
    """Incidents follow their invoice's new key; those made one are merged. Returns (incidents
    re-keyed, incidents merged into another)."""
    i = s.incidents
    prefix = func.coalesce(i.c.supplier_id, i.c.supplier)
    keyed_by_supplier = func.substr(i.c.invoice_key, 1, func.length(prefix) + 1) == prefix + "|"
    candidates: Sequence[Any] = conn.execute(
        sql_select(*_incident_columns()).where(i.c.supplier.is_not(None), keyed_by_supplier)
    ).all()
    renamed: dict[int, tuple[str, str]] = {}  # incident id → (invoice key, dedupe key)
    groups: dict[str, list[Any]] = {}  # new dedupe key → incidents
    for row in candidates:
        new = taxed.get(row.invoice_key)
        own = row.supplier_id or row.supplier
        if new is None and not TAX_ID.match(own):  # a tax id's supplier: only taxed knows it
            new = suppliers.resolve_one(row.supplier).id + row.invoice_key[len(own) :]
        if new is None or new == row.invoice_key:
            continue
        renamed[row.incident_id] = (new, dedupe_key(row.tenant, new, row.primary_flag))
        groups.setdefault(renamed[row.incident_id][1], []).append(row)
    # Incidents that already hold a new dedupe key and keep it join its group.
    wanted = list(groups)
    for start in range(0, len(wanted), CHUNK):
        chunk = wanted[start : start + CHUNK]
        for row in conn.execute(sql_select(*_incident_columns()).where(i.c.dedupe_key.in_(chunk))):
            if row.incident_id not in renamed:
                groups[row.dedupe_key].append(row)
    changes: list[dict[str, Any]] = []
    gone: list[tuple[int, Any]] = []  # (survivor id, merged incident)
    for members in groups.values():
        survivor, *others = sorted(members, key=_work)
        new_key, new_dedupe = renamed.get(survivor.incident_id, (None, None))
        change = dict.fromkeys(_CHANGED) | {
            "incident_id": survivor.incident_id,
            "invoice_key": new_key,
            "dedupe_key": new_dedupe,
        }
        if others:
            gone += [(survivor.incident_id, m) for m in others]
            change |= {
                "day": min(m.day for m in members),
                "first_seen_at": min(m.first_seen_at for m in members),
                "last_seen_at": max(m.last_seen_at for m in members),
                "occurrence_count": sum(int(m.occurrence_count) for m in members),
                "updated_at": now,
            }
        if others or new_dedupe is not None:
            changes.append(change)
    _record_merges(conn, gone, now)
    _apply(conn, changes)
    return len(renamed), len(gone)


def _record_merges(conn: Connection, gone: list[tuple[int, Any]], now: datetime) -> None:
    """Keep each merged incident, as it was, in ``incident_merges``; then delete it."""
    i = s.incidents
    survivor_of = {m.incident_id: survivor for survivor, m in gone}
    numbers_all = list(survivor_of)
    for start in range(0, len(numbers_all), CHUNK):
        numbers = numbers_all[start : start + CHUNK]
        rows = conn.execute(sql_select(i).where(i.c.incident_id.in_(numbers))).mappings().all()
        conn.execute(
            insert(s.incident_merges),
            [
                {
                    "merged_at": now,
                    "survivor_id": survivor_of[r["incident_id"]],
                    "merged_incident_id": r["incident_id"],
                    "reason": REASON,
                    "incident_json": json.dumps(dict(r), default=str),
                }
                for r in rows
            ],
        )
        conn.execute(delete(i).where(i.c.incident_id.in_(numbers)))


# What a survivor may change, besides its keys (None: keep the stored value).
_CHANGED = ("day", "first_seen_at", "last_seen_at", "occurrence_count", "updated_at")


def _apply(conn: Connection, changes: list[dict[str, Any]]) -> None:
    """Write the survivors' new keys and merged facts in set-based statements: first every
    re-keyed incident leaves its old dedupe key (so no final key is ever held twice, whatever
    the order), then each column takes its new value where there is one."""
    if not changes:
        return
    i = s.incidents
    moves = _temporary(
        conn,
        "incident_moves",
        [
            Column("incident_id", Integer, primary_key=True),
            _text("invoice_key", null=True),
            _text("dedupe_key", null=True),
            *(Column(c.name, c.type, nullable=True) for c in (i.c[n] for n in _CHANGED)),
        ],
    )
    conn.execute(insert(moves), changes)
    match = moves.c.incident_id == i.c.incident_id
    rekeyed = exists().where(match, moves.c.dedupe_key.is_not(None))
    parked = literal("rekey-") + cast(i.c.incident_id, Text)
    conn.execute(sql_update(i).where(rekeyed).values(dedupe_key=parked))
    conn.execute(
        sql_update(i)
        .where(exists().where(match))
        .values(
            {
                i.c[name]: func.coalesce(
                    sql_select(moves.c[name]).where(match).scalar_subquery(), i.c[name]
                )
                for name in ("invoice_key", "dedupe_key", *_CHANGED)
            }
        )
    )
    moves.drop(conn)


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
    columns = ["name", "other", "shown", "sid"]
    named = _temporary(
        conn, f"{table.name}_names", [_text(c, key=c in ("name", "other")) for c in columns]
    )
    conn.execute(insert(named), names)
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


def _text(name: str, *, key: bool = False, null: bool = False) -> Column:
    return Column(name, Text, primary_key=key, nullable=null)


def _temporary(conn: Connection, name: str, columns: list[Column]) -> Table:
    """A temporary table of ``columns``, created empty (dropped by the caller; a rollback drops
    it too)."""
    table = Table(name, MetaData(), *columns, prefixes=["TEMPORARY"])
    table.create(conn)
    return table
