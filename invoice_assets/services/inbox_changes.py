"""Which inbox days need a run: their files differ, by content, from what the store extracted.

The plain discovery function behind ``inbox_sensor``. A day folder is first compared by a cheap
listing (names, types, sizes, modification times) with the listing last confirmed; only a day
whose listing moved is hashed, and its files' sha256 are compared with the store's queue, which
records every file's sha256 as the day's last extraction saw it. So a restarted sensor (empty
cursor) requests nothing for days already materialised, a touched file with the same bytes
requests nothing, and a day the CLI materialised is not requested again.

A day whose partition does not exist yet (today, in Istanbul time) or lies before the
partitions start stays pending: it is reported, not confirmed, so it is requested on the first
tick after its partition exists.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import dagster as dg

from resources.inbox import InboxResource
from resources.store import InvoiceStore

EXTRACTED = ("done", "failed")


@dataclass
class InboxScan:
    """What one look at the inbox found."""

    requests: dict[str, str] = field(default_factory=dict)  # day → content fingerprint
    pending: dict[str, str] = field(default_factory=dict)  # day → why it waits
    listings: dict[str, str] = field(default_factory=dict)  # day → listing confirmed extracted


def listing(folder: Path) -> str:
    """A fingerprint of a day folder's entries as the file system lists them (no reads)."""
    parts = []
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        st = entry.stat(follow_symlinks=False)
        parts.append(f"{entry.name}\0{st.st_mode}\0{st.st_size}\0{st.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode("utf-8", "surrogateescape")).hexdigest()[:32]


def scan_inbox(
    inbox: InboxResource,
    store: InvoiceStore,
    partitions: dg.PartitionsDefinition,
    confirmed: dict[str, str],
    now: datetime,
) -> InboxScan:
    """Days to request (files new or changed since the day's last extraction), days pending,
    and the listings confirmed as extracted (the next cursor)."""
    scan = InboxScan()
    moved: dict[str, str] = {}
    for day in inbox.days():
        seen = listing(inbox.day_dir(day))
        if confirmed.get(day) == seen:
            scan.listings[day] = seen
        else:
            moved[day] = seen
    if not moved:
        return scan
    existing = set(partitions.get_partition_keys(current_time=now))
    queue = store.inbox_files(sorted(moved))
    extracted: dict[str, dict[str, str]] = {}
    for day, name, sha, status in queue[["day", "file_name", "sha256", "status"]].itertuples(
        index=False, name=None
    ):
        if status in EXTRACTED:
            extracted.setdefault(day, {})[name] = sha
    for day, seen in moved.items():
        files = {e.file_name: e.sha256 for e in inbox.list_files(day)}
        if not files:
            scan.listings[day] = seen
            continue
        if day not in existing:
            first = partitions.get_first_partition_key()
            scan.pending[day] = (
                f"{len(files)} file(s) before the first partition {first}"
                if first is not None and day < first
                else f"{len(files)} file(s) wait for the partition {day} to exist"
            )
            continue
        known = extracted.get(day, {})
        if all(known.get(name) == sha for name, sha in files.items()):
            scan.listings[day] = seen  # what is on disk is what was extracted
            continue
        content = "\n".join(f"{n}\0{s}" for n, s in sorted(files.items()))
        # not confirmed until its extraction is in the store: the next ticks find the same
        # content and the same run key (Dagster launches a run key once)
        scan.requests[day] = hashlib.sha256(content.encode()).hexdigest()[:16]
    return scan
