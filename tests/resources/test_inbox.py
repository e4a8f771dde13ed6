"""``resources/inbox.py`` and ``inbox_ingest.py``: every entry of a day folder is accounted for,
no link out of the inbox is read, and ingest copies all or nothing, bounded, without silently
replacing a file.

Hostile entries are made for real (symlinks, FIFOs, a UNIX socket, directories, dot-files); a
read that would block on a FIFO runs in a thread with a bound, so a regression fails the test
instead of hanging the suite.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from invoice_assets.domain.records import INBOX_ENTRY_ERRORS
from resources.extractor import InboxExtractor
from resources.inbox import InboxResource, extract_entry
from resources.inbox_ingest import IngestError
from tests.conftest import SMOKE
from tests.inbox_entries import EXPECTED, hostile_day, invoice_record

DAY = "2025-02-03"
HAPPY = SMOKE / "happy_path_invoice.json"


def bounded(call: Callable[[], Any], seconds: float = 30.0) -> Any:
    """``call()`` in a thread, its result or exception here; fails (instead of hanging) when it
    does not return in time."""
    out: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            out.append(call())
        except BaseException as exc:  # re-raised in the test's thread below
            errors.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout=seconds)
    assert not worker.is_alive(), "the call blocked (a FIFO or device was opened?)"
    if errors:
        raise errors[0]
    return out[0]


@pytest.fixture
def inbox(tmp_path: Path) -> InboxResource:
    return InboxResource(path=str(tmp_path / "inbox"))


def test_every_entry_of_a_day_folder_is_listed_with_its_refusal(inbox, tmp_path, monkeypatch):
    hostile_day(Path(inbox.path), DAY, tmp_path, monkeypatch)

    entries = bounded(lambda: inbox.list_files(DAY))

    assert {e.file_name: e.refusal and e.refusal.code for e in entries} == EXPECTED
    assert {code for code in EXPECTED.values() if code} <= set(INBOX_ENTRY_ERRORS)
    for entry in entries:
        if entry.refusal is not None:
            assert entry.size_bytes == 0 and len(entry.sha256) == 64


def test_refused_entries_are_failed_items_and_never_opened(inbox, tmp_path, monkeypatch):
    hostile_day(Path(inbox.path), DAY, tmp_path, monkeypatch)
    extractor = InboxExtractor()

    items = [
        x.item
        for entry in bounded(lambda: inbox.list_files(DAY))
        for x in bounded(lambda entry=entry: extract_entry(entry, extractor))
    ]

    by_file = {item.source_file: item for item in items}
    assert set(by_file) == set(EXPECTED)  # one item per entry: invoices in = ok + failed
    for name, code in EXPECTED.items():
        item = by_file[name]
        if code is None:
            assert item.error is None and item.record is not None
        else:
            assert item.record is None and item.error is not None
            assert item.error.code == code
    keys = {item.record.invoice.ettn for item in items if item.record is not None}
    assert keys == {"REGULAR", "INSIDE"}  # the link out of the inbox was not followed
    assert all("root:" not in (item.error.message if item.error else "") for item in items)


def test_a_day_folder_that_links_out_of_the_inbox_is_one_refused_entry(inbox, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "invoice.json").write_bytes(invoice_record("OUTSIDE"))
    Path(inbox.path).mkdir()
    inbox.day_dir(DAY).symlink_to(outside)

    (entry,) = inbox.list_files(DAY)

    assert entry.file_name == DAY
    assert entry.refusal is not None and entry.refusal.code == "symlink_outside_inbox"


def test_a_link_inside_the_inbox_is_read_under_the_links_own_name(inbox, tmp_path, monkeypatch):
    hostile_day(Path(inbox.path), DAY, tmp_path, monkeypatch)
    (entry,) = [e for e in inbox.list_files(DAY) if e.file_name == "l-inside-link.json"]
    (item,) = extract_entry(entry, InboxExtractor())
    assert item.item.source_file == "l-inside-link.json"
    assert item.item.record is not None and item.item.record.invoice.ettn == "INSIDE"


def test_the_extractor_refuses_a_fifo_without_blocking(tmp_path):
    fifo = tmp_path / "late.json"
    os.mkfifo(fifo)
    (item,) = bounded(lambda: InboxExtractor().extract_file(fifo))
    assert item.item.error is not None and item.item.error.code == "unreadable_file"


# --- ingest --------------------------------------------------------------------------------------


def day_files(inbox: InboxResource) -> list[str]:
    folder = inbox.day_dir(DAY)
    return sorted(os.listdir(folder)) if folder.exists() else []


def staged(inbox: InboxResource) -> list[str]:
    staging = Path(inbox.path) / ".ingest"
    return sorted(os.listdir(staging)) if staging.exists() else []


@pytest.mark.parametrize("kind", ["fifo", "socket", "device"])
def test_ingest_refuses_special_files_and_copies_nothing(inbox, tmp_path, monkeypatch, kind):
    monkeypatch.chdir(tmp_path)
    if kind == "fifo":
        os.mkfifo("special")
        special = tmp_path / "special"
    elif kind == "socket":
        server = socket.socket(socket.AF_UNIX)
        server.bind("special")
        server.close()
        special = tmp_path / "special"
    else:
        special = Path("/dev/zero")

    with pytest.raises(IngestError, match="not a regular file"):
        bounded(lambda: inbox.ingest(DAY, [HAPPY, special], 10_000_000))

    assert day_files(inbox) == [] and staged(inbox) == []


def test_ingest_stops_a_stream_at_the_size_cap_and_leaves_no_partial_file(inbox):
    # /proc files report size 0 and then stream their content: only the cap can stop them
    source = Path("/proc/self/maps")
    assert source.stat().st_size == 0 and len(source.read_bytes()) > 200

    with pytest.raises(IngestError, match="more than 100 bytes"):
        inbox.ingest(DAY, [source], 100)

    assert day_files(inbox) == [] and staged(inbox) == []


def test_ingest_refuses_a_file_over_the_cap_before_copying(inbox, tmp_path):
    big = tmp_path / "big.json"
    big.write_bytes(b"{" + b" " * 200)
    with pytest.raises(IngestError, match="201 bytes > limit 100"):
        inbox.ingest(DAY, [big], 100)
    assert day_files(inbox) == []


def test_two_different_files_with_one_name_are_refused_not_silently_merged(inbox, tmp_path):
    for folder, ettn in (("a", "FIRST"), ("b", "SECOND")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "invoice.json").write_bytes(invoice_record(ettn))

    with pytest.raises(IngestError, match=r"two different files are named 'invoice\.json'"):
        inbox.ingest(DAY, [tmp_path / "a" / "invoice.json", tmp_path / "b" / "invoice.json"], 10**7)

    assert day_files(inbox) == []


def test_identical_copies_under_one_name_are_one_file(inbox, tmp_path):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "invoice.json").write_bytes(invoice_record("SAME"))
    done = inbox.ingest(
        DAY, [tmp_path / "a" / "invoice.json", tmp_path / "b" / "invoice.json"], 10**7
    )
    assert [action for _, action in done] == ["copied"]
    assert day_files(inbox) == ["invoice.json"]


def test_a_different_file_under_an_existing_name_needs_replace(inbox, tmp_path):
    first, second = tmp_path / "v1", tmp_path / "v2"
    first.mkdir(), second.mkdir()
    (first / "invoice.json").write_bytes(invoice_record("V1"))
    (second / "invoice.json").write_bytes(invoice_record("V2"))
    inbox.ingest(DAY, [first / "invoice.json"], 10**7)

    with pytest.raises(IngestError, match="already holds a different file"):
        inbox.ingest(DAY, [second / "invoice.json"], 10**7)
    target = inbox.day_dir(DAY) / "invoice.json"
    assert b"V1" in target.read_bytes()

    done = inbox.ingest(DAY, [second / "invoice.json"], 10**7, replace=True)
    assert [action for _, action in done] == ["replaced"]
    assert b"V2" in target.read_bytes()


def test_ingesting_a_file_already_in_place_is_idempotent(inbox):
    inbox.ingest(DAY, [HAPPY], 10**7)
    in_place = inbox.day_dir(DAY) / HAPPY.name
    before = in_place.stat()

    assert inbox.ingest(DAY, [in_place], 10**7) == [(in_place, "in place")]
    assert inbox.ingest(DAY, [HAPPY], 10**7) == [(in_place, "unchanged")]
    assert in_place.stat().st_ino == before.st_ino and day_files(inbox) == [HAPPY.name]


def test_ingest_refuses_hidden_names(inbox, tmp_path):
    hidden = tmp_path / ".invoice.json"
    hidden.write_bytes(invoice_record("HIDDEN"))
    with pytest.raises(IngestError, match="hidden names"):
        inbox.ingest(DAY, [hidden], 10**7)
    assert day_files(inbox) == []
