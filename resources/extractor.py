"""Extractors: turn inbox files into extraction records (the ``Extractor`` interface).

``InboxExtractor`` routes by content (sniffed, never by file name): JSON and JSON Lines records go
through the pre-extracted path; PDFs and images go to the OpenAI extractor when it is enabled,
otherwise they fail with ``extractor_unavailable``. Every file yields at least one item, so
invoices in = ok + failed.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

import dagster as dg
from pydantic import Field

from invoice_assets.domain.records import (
    InboxItem,
    ItemError,
    parse_inbox_content,
    sniff_kind,
    source_name,
)


@dataclass(frozen=True)
class ExtractedItem:
    """One invoice's extraction outcome with the cost of getting it."""

    item: InboxItem
    extraction_ms: float | None  # the extractor call itself; None when no call was made
    http_status: int | None  # the extraction API's answer, when there was one


class Extractor(Protocol):
    """What the extractions asset needs from any extractor."""

    def extract_file(self, path: Path) -> list[ExtractedItem]: ...


class InboxExtractor(dg.ConfigurableResource):
    """Pre-extracted JSON/JSONL records; PDFs and images fail as ``extractor_unavailable``
    unless an OpenAI extractor is configured (see ``resources/openai_extractor.py``)."""

    max_file_bytes: int = Field(
        default=10 * 1024 * 1024, gt=0, description="Files larger than this fail as file_too_large."
    )
    batch_bytes: int = Field(
        default=32 * 1024 * 1024,
        gt=0,
        description="Inbox files are parsed, framed and written in batches of about this many "
        "bytes (~25k invoices), so the extractions step's memory follows the batch, not the day.",
    )

    def extract_file(self, path: Path) -> list[ExtractedItem]:
        """Every invoice in one inbox file (never raises for bad content)."""
        name = source_name(path.name)
        try:
            with open_regular(path) as handle:
                size = os.fstat(handle.fileno()).st_size
                if size > self.max_file_bytes:
                    digest = _sha_handle(handle)
                    error = ItemError(
                        "file_too_large", None, f"{size} bytes > limit {self.max_file_bytes}"
                    )
                    return [ExtractedItem(InboxItem(name, None, digest, None, error), None, None)]
                content = handle.read(self.max_file_bytes + 1)
        except OSError as exc:
            error = ItemError("unreadable_file", None, exc.strerror or str(exc))
            digest = hashlib.sha256(name.encode()).hexdigest()
            return [ExtractedItem(InboxItem(name, None, digest, None, error), None, None)]
        kind = sniff_kind(content)
        if kind in ("pdf", "image"):
            return self.extract_document(name, content, kind)
        items = parse_inbox_content(name, content, self.max_file_bytes)
        return [ExtractedItem(item, None, None) for item in items]

    def extract_document(self, name: str, content: bytes, kind: str) -> list[ExtractedItem]:
        """PDFs and images need a vision extractor; this one has none."""
        return [
            ExtractedItem(item, None, None)
            for item in parse_inbox_content(name, content, self.max_file_bytes)
        ]


def open_regular(path: Path, follow: bool = True) -> BinaryIO:
    """``path`` open for reading if it is a regular file, else ``OSError``: a FIFO is opened
    without blocking and refused, a directory or device refused; ``follow=False`` refuses a final
    symbolic link too."""
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | (0 if follow else os.O_NOFOLLOW)
    fd = os.open(path, flags)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _sha_handle(handle: BinaryIO) -> str:
    digest = hashlib.sha256()
    for chunk in iter(lambda: handle.read(1 << 20), b""):
        digest.update(chunk)
    return digest.hexdigest()


def sha_file(path: Path, follow: bool = True) -> str:
    """sha256 of a regular file's bytes, streamed (``OSError`` for anything else)."""
    with open_regular(path, follow) as handle:
        return _sha_handle(handle)
