"""The inbox: ``<inbox>/<YYYY-MM-DD>/`` folders of invoice files, one per arrival day.

Files are copied in by ``invoice-ops ingest`` (``resources/inbox_ingest.py``) or dropped by an
upstream system; the extractions asset lists a day's folder and registers what it finds in the
store's queue. Listing accounts for every entry of the folder: a regular file is an invoice file;
a link is followed only when it ends at a regular file inside the inbox; anything else (a link
out of the inbox or to nothing, a directory, a hidden entry, a FIFO, socket or device) is listed
with a ``refusal`` (codes in ``domain/records.INBOX_ENTRY_ERRORS``) and is never opened, so it
fails as one invoice instead of vanishing or being read as root.

Not for: parsing file content (``resources/extractor.py``) or the queue's states (the store).
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Iterable
from dataclasses import replace
from datetime import date
from pathlib import Path

import dagster as dg
from pydantic import Field

from invoice_assets.domain.records import InboxItem, inbox_entry_error, source_name
from resources.extractor import ExtractedItem, FileExtractor, sha_file
from resources.inbox_ingest import ingest_files, inside
from resources.store import InboxEntry

DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class InboxResource(dg.ConfigurableResource):
    """Where invoice files arrive, one folder per day."""

    path: str = Field(description="INVOICE_INBOX, default <INVOICE_HOME>/inbox.")

    def day_dir(self, day: str) -> Path:
        if not DAY.fullmatch(day):  # refuses anything but YYYY-MM-DD (no path tricks)
            raise ValueError(f"not a day (YYYY-MM-DD): {day!r}")
        date.fromisoformat(day)
        return Path(self.path) / day

    def list_files(self, day: str) -> list[InboxEntry]:
        """Every entry of the day's folder, in name order (refused ones carry their error)."""
        folder = self.day_dir(day)
        if not folder.is_dir():
            return []
        root = os.path.realpath(self.path)
        if not inside(root, folder):  # the day folder is a link out
            return [_refused(folder, "symlink_outside_inbox", source_name(os.readlink(folder)))]
        with os.scandir(folder) as found:
            names = sorted(entry.name for entry in found)
        return [_entry(folder / name, root) for name in names]

    def days(self) -> list[str]:
        """Days that have a folder in the inbox."""
        root = Path(self.path)
        if not root.is_dir():
            return []
        return sorted(p.name for p in root.iterdir() if p.is_dir() and DAY.fullmatch(p.name))

    def ingest(
        self, day: str, files: Iterable[Path], max_bytes: int, replace: bool = False
    ) -> list[tuple[Path, str]]:
        """Copy files into the day's folder, all or none (see ``inbox_ingest.ingest_files``)."""
        return ingest_files(Path(self.path), self.day_dir(day), list(files), max_bytes, replace)


def _refused(path: Path, code: str, detail: str = "") -> InboxEntry:
    """An entry that is not read: its key is stable for its name, kind and link target."""
    digest = hashlib.sha256(f"{code}\0{path.name}\0{detail}".encode(errors="surrogateescape"))
    error = inbox_entry_error(code, detail)
    return InboxEntry(source_name(path.name), str(path), digest.hexdigest(), 0, error)


def _kind(mode: int) -> str:
    return "directory" if stat.S_ISDIR(mode) else "special_file"


def _entry(path: Path, root: str) -> InboxEntry:
    """What one entry of a day folder is, decided from ``lstat`` (nothing is opened before)."""
    try:
        info = path.lstat()
    except OSError:  # gone since the listing: a dangling name
        return _refused(path, "symlink_dangling")
    if path.name.startswith("."):
        return _refused(path, "hidden_file")
    target = path
    if stat.S_ISLNK(info.st_mode):
        link = os.readlink(path)
        shown = source_name(link)
        resolved = os.path.realpath(path)
        try:
            info = os.stat(resolved)
        except OSError:  # missing target or a loop of links
            return _refused(path, "symlink_dangling", shown)
        if not inside(root, resolved):
            return _refused(path, "symlink_outside_inbox", shown)
        target = Path(resolved)
    if not stat.S_ISREG(info.st_mode):
        return _refused(path, _kind(info.st_mode), source_name(str(target)))
    try:
        digest = sha_file(target, follow=False)
    except OSError as exc:  # no permission, or replaced by something else since the lstat
        return _refused(path, "unreadable_file", exc.strerror or str(exc))
    return InboxEntry(source_name(path.name), str(target), digest, info.st_size)


def extract_entry(entry: InboxEntry, extractor: FileExtractor) -> list[ExtractedItem]:
    """The items of one listed entry: its one failure when it is refused (never opened), else
    what ``extractor`` reads from it, named after the entry (a link inside the inbox is read
    at its resolved target, but its items belong to the link's name in the day folder)."""
    if entry.refusal is not None:
        item = InboxItem(entry.file_name, None, entry.sha256, None, entry.refusal)
        return [ExtractedItem(item, None, None)]
    items = extractor.extract_file(Path(entry.path))
    if Path(entry.path).name == entry.file_name:
        return items
    return [replace(x, item=replace(x.item, source_file=entry.file_name)) for x in items]
