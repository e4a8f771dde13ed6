"""Helpers every stage asset shares: reading aligned stage frames and describing results.

Not for business rules (those are in ``invoice_assets.domain``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from threading import Lock

import dagster as dg
import numpy as np
import pandas as pd

from invoice_assets.domain.frames import INVOICE_COLUMNS, invoice_frame, line_item_frame
from invoice_assets.kernel.memory import release_free_memory
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
    frame = _invoices(store.read_stage("extractions", days, _INVOICE_READ))
    if key is None:
        return frame
    with _RUN_FRAME_LOCK:
        _RUN_FRAME.clear()
        _RUN_FRAME[key] = frame
    return frame.copy(deep=False)


def _invoices(raw: pd.DataFrame) -> pd.DataFrame:
    raw = raw.sort_values(["day", "invoice_key"], kind="stable").reset_index(drop=True)
    frame = invoice_frame(raw)
    for extra in INVOICE_EXTRAS:  # the read's own arrays (started_at stays a UTC datetime)
        frame[extra] = raw[extra].array
    return frame


@dataclass(frozen=True)
class Chunk:
    """The invoices of one day whose key is in ``(after, upto]`` (None: an open end): the unit a
    stage reads, computes and writes at once (``InvoiceStore.chunk_invoices`` of them at most).
    ``first`` is the day's first chunk (an empty day is one empty first chunk)."""

    day: str
    after: str | None
    upto: str | None
    first: bool

    def skip(self, invoices: pd.DataFrame) -> bool:
        """An empty chunk after the first (the day's count was a multiple of the chunk size)
        adds nothing: only an empty day's one chunk is computed, as today."""
        return not self.first and invoices.empty


def day_chunks(
    store: InvoiceStore, days: Sequence[str], run_id: str | None = None, *, last: bool = False
) -> Iterator[Chunk]:
    """The chunks of ``days``, day by day, each day's in key order: every invoice of a day is in
    exactly one. Chunk bounds come from the extraction rows (``InvoiceStore.key_bounds``), so
    every stage of a run cuts a day the same way. With ``run_id`` a day's bounds are computed
    once per run and spooled for its later stages (finding them walks the day's key index: ~10
    minutes for 10M invoices on a cold cache); the ``last`` stage removes them."""
    for day in days:
        edges: list[str | None] = [None, *_bounds(store, day, run_id), None]
        for n, (after, upto) in enumerate(pairwise(edges)):
            yield Chunk(day, after, upto, n == 0)
        if run_id is not None and last:
            path = _spool_path(store, Chunk(day, None, None, True), run_id, "bounds")
            path.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                path.parent.rmdir()


def _bounds(store: InvoiceStore, day: str, run_id: str | None) -> list[str]:
    if run_id is None:
        return store.key_bounds(day, store.chunk_invoices)
    path = _spool_path(store, Chunk(day, None, None, True), run_id, "bounds")
    try:
        with path.open("rb") as handle:
            size, bounds = pickle.load(handle)
        if size == store.chunk_invoices and isinstance(bounds, list):
            return bounds
    except (OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError):
        pass
    bounds = store.key_bounds(day, store.chunk_invoices)
    _spool(path, (store.chunk_invoices, bounds))
    return bounds


def read_invoice_chunk(
    store: InvoiceStore, chunk: Chunk, run_id: str | None = None, *, last: bool = False
) -> pd.DataFrame:
    """The extraction frame of a chunk, as ``read_invoices`` gives a day (ordered by key).

    With ``run_id`` the run's stages share each chunk's frame through a spool file (a pickle
    under the temporary directory, one chunk at a time in memory): the first stage to read a
    chunk writes it, the later ones load it (~5x cheaper than reading and converting the rows
    again, once per stage), and the ``last`` reader removes it. Within a run only the
    extractions step writes these rows, before any stage reads them. A spool file that cannot
    be read (removed, damaged) is read from the store again.
    """
    if run_id is None:
        return _read_chunk(store, chunk)
    path = _spool_path(store, chunk, run_id)
    frame = None
    try:
        with path.open("rb") as handle:
            frame = pickle.load(handle)
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ValueError):
        frame = None
    if not isinstance(frame, pd.DataFrame):
        frame = _read_chunk(store, chunk)
        if not last:
            _spool(path, frame)
    if last:
        path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # the run's folder goes with its last chunk
            path.parent.rmdir()
    return frame


def invoice_chunks(
    store: InvoiceStore, days: Sequence[str], run_id: str | None = None, *, last: bool = False
) -> Iterator[tuple[Chunk, pd.DataFrame]]:
    """Each chunk of ``days`` (``day_chunks``) with its extraction frame
    (``read_invoice_chunk``), one chunk in memory at a time; the empty chunk after a day's
    last full one is left out (``Chunk.skip``), an empty day's one chunk is not. ``last``: the
    run's last stage, which removes the spooled frames and bounds."""
    for chunk in day_chunks(store, days, run_id, last=last):
        invoices = read_invoice_chunk(store, chunk, run_id, last=last)
        if not chunk.skip(invoices):
            yield chunk, invoices
        del invoices  # the caller's frame is freed before the next chunk is read
        release_free_memory()


SPOOL_DIR = "invoice-assets-spool"
STALE_SPOOL_SECONDS = 86_400  # a run's spool left by a process that died: removed after a day


def _read_chunk(store: InvoiceStore, chunk: Chunk) -> pd.DataFrame:
    return _invoices(
        store.read_stage_keys("extractions", chunk.day, chunk.after, chunk.upto, _INVOICE_READ)
    )


def _spool_path(store: InvoiceStore, chunk: Chunk, run_id: str, kind: str = "rows") -> Path:
    run = hashlib.sha256(f"{store.url}|{run_id}".encode()).hexdigest()[:24]
    what = repr((kind, chunk.day, chunk.after, chunk.upto))
    part = hashlib.sha256(what.encode()).hexdigest()[:24]
    return Path(tempfile.gettempdir()) / SPOOL_DIR / run / f"{part}.pkl"


def _spool(path: Path, frame: object) -> None:
    """Write a chunk's frame for the run's later stages (atomically; a full disk only costs
    them a read from the store). A run's first write removes runs' spools left for a day."""
    folder = path.parent
    try:
        if not folder.exists():
            _remove_stale(folder.parent)
            folder.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.part")
        with partial.open("wb") as handle:
            pickle.dump(frame, handle, protocol=pickle.HIGHEST_PROTOCOL)
        partial.replace(path)
    except OSError:
        path.unlink(missing_ok=True)


def _remove_stale(root: Path) -> None:
    if not root.exists():
        return
    now = time.time()
    for run in root.iterdir():
        try:
            if now - run.stat().st_mtime > STALE_SPOOL_SECONDS:
                shutil.rmtree(run, ignore_errors=True)
        except OSError:
            continue


def read_chunk_line_items(store: InvoiceStore, chunk: Chunk) -> pd.DataFrame:
    return line_item_frame(
        store.read_stage_keys("line_items", chunk.day, chunk.after, chunk.upto, LINE_ITEM_READ)
    )


def read_chunk_aligned(
    store: InvoiceStore,
    name: str,
    invoices: pd.DataFrame,
    chunk: Chunk,
    columns: Sequence[str],
) -> pd.DataFrame:
    """A stage's rows of a chunk (only ``columns``) in the order of its ``invoices``."""
    frame = store.read_stage_keys(
        name, chunk.day, chunk.after, chunk.upto, ["day", "invoice_key", *columns]
    )
    return _align(frame, invoices)


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
    return _align(store.read_stage(name, days, picked), invoices)


def _align(frame: pd.DataFrame, invoices: pd.DataFrame) -> pd.DataFrame:
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
