"""A day folder holding one of every kind of inbox entry (regular file, links in and out of the
inbox, dangling and looping links, a directory, a dot-file, a FIFO, a UNIX socket, a device
link), with the error code each must fail with (None: read as an invoice)."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

from tests.conftest import SMOKE

HAPPY = SMOKE / "happy_path_invoice.json"


def invoice_record(ettn: str) -> bytes:
    """The happy-path smoke invoice under its own ``ettn`` (its invoice key)."""
    record = json.loads(HAPPY.read_text(encoding="utf-8"))
    record["invoice"]["ettn"] = ettn
    return json.dumps(record).encode()


def hostile_day(inbox: Path, day: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The folder of ``day`` in ``inbox`` with one entry of each kind (see ``EXPECTED``); the
    link out points to a valid invoice under ``tmp_path`` (ettn OUTSIDE-THE-INBOX)."""
    folder = inbox / day
    folder.mkdir(parents=True)
    (folder / "a-regular.json").write_bytes(invoice_record("REGULAR"))
    outside = tmp_path / "outside.json"
    outside.write_bytes(invoice_record("OUTSIDE-THE-INBOX"))
    (folder / "b-escape.json").symlink_to(outside)
    (folder / "c-passwd.json").symlink_to("/etc/passwd")
    (folder / "d-dangling.json").symlink_to(tmp_path / "nothing-here.json")
    (folder / "e-loop").symlink_to(folder / "e-loop")
    (folder / "f-subdir").mkdir()
    (folder / "g-subdir-link").symlink_to(folder / "f-subdir")
    (folder / ".h-hidden.json").write_bytes(invoice_record("HIDDEN"))
    os.mkfifo(folder / "i-fifo.json")
    monkeypatch.chdir(folder)  # a short relative path: UNIX socket paths are limited to 108 bytes
    server = socket.socket(socket.AF_UNIX)
    server.bind("j-socket")
    server.close()
    (folder / "k-device.json").symlink_to("/dev/zero")
    other = inbox / "2000-01-01"
    other.mkdir()
    (other / "inside.json").write_bytes(invoice_record("INSIDE"))
    (folder / "l-inside-link.json").symlink_to(other / "inside.json")
    return folder


EXPECTED = {
    "a-regular.json": None,
    "b-escape.json": "symlink_outside_inbox",
    "c-passwd.json": "symlink_outside_inbox",
    "d-dangling.json": "symlink_dangling",
    "e-loop": "symlink_dangling",
    "f-subdir": "directory",
    "g-subdir-link": "directory",
    ".h-hidden.json": "hidden_file",
    "i-fifo.json": "special_file",
    "j-socket": "special_file",
    "k-device.json": "symlink_outside_inbox",
    "l-inside-link.json": None,
}
