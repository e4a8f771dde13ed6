"""The inbox: ``<inbox>/<YYYY-MM-DD>/`` folders of invoice files, one per arrival day.

Files are copied in by ``invoice-ops ingest`` (or dropped by an upstream system); the extractions
asset lists a day's folder and registers what it finds in the store's queue.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterable
from datetime import date
from pathlib import Path

import dagster as dg
from pydantic import Field

from invoice_assets.domain.records import source_name
from resources.extractor import sha_file
from resources.store import InboxEntry

DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class InboxResource(dg.ConfigurableResource):
    """Where invoice files arrive, one folder per day."""

    path: str = Field(description="INVOICE_INBOX, default <INVOICE_HOME>/inbox.")

    def day_dir(self, day: str) -> Path:
        date.fromisoformat(day)  # refuses anything but YYYY-MM-DD (no path tricks)
        return Path(self.path) / day

    def list_files(self, day: str) -> list[InboxEntry]:
        """Regular, non-hidden files of the day, in name order."""
        folder = self.day_dir(day)
        if not folder.is_dir():
            return []
        return [
            InboxEntry(source_name(p.name), str(p), sha_file(p), p.stat().st_size)
            for p in sorted(folder.iterdir())
            if p.is_file() and not p.name.startswith(".")
        ]

    def days(self) -> list[str]:
        """Days that have a folder in the inbox."""
        root = Path(self.path)
        if not root.is_dir():
            return []
        return sorted(p.name for p in root.iterdir() if p.is_dir() and DAY.match(p.name))

    def ingest(self, day: str, files: Iterable[Path]) -> list[Path]:
        """Copy files into the day's folder (same name replaces); returns the new paths."""
        folder = self.day_dir(day)
        folder.mkdir(parents=True, exist_ok=True)
        out = []
        for source in files:
            target = folder / Path(source).name
            shutil.copyfile(source, target)
            out.append(target)
        return out
