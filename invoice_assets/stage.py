"""Helpers every stage asset shares: reading aligned stage frames and describing results.

Not for business rules (those are in ``invoice_assets.domain``).
"""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg
import pandas as pd

from invoice_assets.domain.records import invoice_frame, line_item_frame
from resources.store import InvoiceStore

OWNERS = ["team:invoice-ops"]
KINDS = {"python", "pandas", "sql"}


def read_invoices(store: InvoiceStore, days: Sequence[str]) -> pd.DataFrame:
    """The extraction frame of the days, ordered by (day, invoice_key), with its ``day``."""
    raw = store.read_stage("extractions", days).sort_values(["day", "invoice_key"], kind="stable")
    raw = raw.reset_index(drop=True)
    frame = invoice_frame(raw)
    for extra in ("day", "extraction_ms", "started_at"):
        frame[extra] = raw[extra].to_numpy() if extra in raw else None
    return frame


def read_line_items(store: InvoiceStore, days: Sequence[str]) -> pd.DataFrame:
    return line_item_frame(store.read_stage("line_items", days))


def read_aligned(
    store: InvoiceStore, name: str, invoices: pd.DataFrame, days: Sequence[str]
) -> pd.DataFrame:
    """A stage's rows in the same order as ``invoices`` (missing rows become nulls)."""
    frame = store.read_stage(name, days).set_index(["day", "invoice_key"])
    flags = [c for c in frame.columns if frame[c].dtype == bool]
    index = pd.MultiIndex.from_arrays([invoices["day"], invoices["invoice_key"]])
    aligned = frame.reindex(index).reset_index(drop=True)
    for column in flags:  # a missing row is "no" for every boolean fact
        aligned[column] = aligned[column].astype("boolean").fillna(False).astype(bool)
    return aligned


def keyed(invoices: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    """Prefix a row-aligned stage frame with the invoices' (day, invoice_key)."""
    out = frame.reset_index(drop=True).copy()
    out.insert(0, "invoice_key", invoices["invoice_key"].to_numpy())
    out.insert(0, "day", invoices["day"].to_numpy())
    return out


def keyed_view(invoices: pd.DataFrame) -> pd.DataFrame:
    """The invoice frame as stored (with ``day``), for checks on what was written."""
    return invoices.reset_index(drop=True)


def md_counts(counts: pd.Series | dict, key: str, value: str) -> dg.MetadataValue:
    """A two-column markdown table (e.g. error code → count)."""
    items = counts.items() if isinstance(counts, dict) else counts.to_dict().items()
    lines = [f"| {key} | {value} |", "|---|---|"] + [f"| {k} | {v} |" for k, v in items]
    if len(lines) == 2:
        lines.append("| (none) | 0 |")
    return dg.MetadataValue.md("\n".join(lines))
