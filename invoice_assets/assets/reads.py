"""Helpers every stage asset shares: reading aligned stage frames and describing results.

Not for business rules (those are in ``invoice_assets.domain``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from threading import Lock

import dagster as dg
import numpy as np
import pandas as pd

from invoice_assets.domain.frames import INVOICE_COLUMNS, invoice_frame, line_item_frame
from resources.store import InvoiceStore
from resources.store import schema as s

OWNERS = ["team:invoice-ops"]
KINDS = {"python", "pandas", "sql"}


INVOICE_EXTRAS = ("day", "extraction_ms", "started_at")
# What a stage reads of an extraction row: the invoice frame's columns and the extras, except
# ``evidence_json`` (no stage rule reads it; ``InvoiceStore.invoice_evidence`` serves it, and at
# ~0.8 kB per invoice it was a quarter of the read) — not ``http_status`` either.
NOT_READ = frozenset({"evidence_json"})
_INVOICE_READ = [
    c.name
    for c in s.extractions.columns
    if c.name in {*INVOICE_COLUMNS, *INVOICE_EXTRAS} and c.name not in NOT_READ
]


_RUN_FRAME: dict[tuple[str, tuple[str, ...], str], pd.DataFrame] = {}
_RUN_FRAME_LOCK = Lock()


def read_invoices(
    store: InvoiceStore, days: Sequence[str], run_id: str | None = None
) -> pd.DataFrame:
    """The extraction frame of the days, ordered by (day, invoice_key), with its ``day``
    (``evidence_json`` left null: see ``NOT_READ``).

    With ``run_id`` the frame is read once per run and the run's later stages share it: within
    a run only the extractions step writes these rows, before any stage reads them. One frame is
    kept (the latest run and days), and each caller gets its own copy-on-write view of it.
    """
    key = (store.url, tuple(days), run_id) if run_id else None
    with _RUN_FRAME_LOCK:
        cached = _RUN_FRAME.get(key) if key else None
    if cached is not None:
        return cached.copy(deep=False)
    raw = store.read_stage("extractions", days, _INVOICE_READ)
    raw = raw.sort_values(["day", "invoice_key"], kind="stable").reset_index(drop=True)
    frame = invoice_frame(raw)
    for extra in INVOICE_EXTRAS:  # the read's own arrays (started_at stays a UTC datetime)
        frame[extra] = raw[extra].array
    if key is None:
        return frame
    with _RUN_FRAME_LOCK:
        _RUN_FRAME.clear()
        _RUN_FRAME[key] = frame
    return frame.copy(deep=False)


# What validation reads of a line item (not its day, unit or confidence: 3M rows for 1M invoices).
LINE_ITEM_READ = ["invoice_key", "line", "label", "qty", "unit_price", "amount_tl"]


def read_line_items(store: InvoiceStore, days: Sequence[str]) -> pd.DataFrame:
    return line_item_frame(store.read_stage("line_items", days, LINE_ITEM_READ))


def read_aligned(
    store: InvoiceStore,
    name: str,
    invoices: pd.DataFrame,
    days: Sequence[str],
    columns: Sequence[str] | None = None,
) -> pd.DataFrame:
    """A stage's rows (all columns, or only ``columns``) in the same order as ``invoices``
    (missing rows become nulls)."""
    picked = None if columns is None else ["day", "invoice_key", *columns]
    frame = store.read_stage(name, days, picked)
    stored_days, invoice_days = frame["day"].unique(), invoices["day"].unique()
    if len(stored_days) <= 1 and len(invoice_days) <= 1 and set(stored_days) <= set(invoice_days):
        # One day (every daily run): the invoice key alone aligns, no (day, key) tuples hashed.
        frame = frame.drop(columns=["day"]).set_index("invoice_key")
        index = pd.Index(invoices["invoice_key"])
    else:
        frame = frame.set_index(["day", "invoice_key"])
        index = pd.MultiIndex.from_arrays([invoices["day"], invoices["invoice_key"]])
    flags = [c for c in frame.columns if frame[c].dtype == bool]
    aligned = frame.reindex(index).reset_index(drop=True)
    for column in flags:  # a missing row is "no" for every boolean fact
        aligned[column] = aligned[column].astype("boolean").fillna(False).astype(bool)
    return aligned


def day_rows(frame: pd.DataFrame, days: Sequence[str]) -> Iterator[tuple[str, slice]]:
    """Each of ``days`` with the slice of its rows in a frame ordered by day (the order of
    ``read_invoices`` and of every frame aligned with it); a day without rows gets an empty
    slice."""
    values = frame["day"].to_numpy() if len(frame) else np.array([], dtype=object)
    for day in days:
        lo = int(np.searchsorted(values, day, side="left"))
        hi = int(np.searchsorted(values, day, side="right"))
        yield day, slice(lo, hi)


def keyed(invoices: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    """Prefix a row-aligned stage frame with the invoices' (day, invoice_key)."""
    out = frame.reset_index(drop=True).copy()
    out.insert(0, "invoice_key", invoices["invoice_key"].to_numpy())
    out.insert(0, "day", invoices["day"].to_numpy())
    return out


def md_counts(counts: pd.Series | dict, key: str, value: str) -> dg.MetadataValue:
    """A two-column markdown table (e.g. error code → count)."""
    items = counts.items() if isinstance(counts, dict) else counts.to_dict().items()
    lines = [f"| {key} | {value} |", "|---|---|"] + [f"| {k} | {v} |" for k, v in items]
    if len(lines) == 2:
        lines.append("| (none) | 0 |")
    return dg.MetadataValue.md("\n".join(lines))
