"""Copying files into an inbox day folder (``invoice-ops ingest``): all or none, bounded, no
silent replacement.

Rules, checked for every file before anything is copied (``IngestError`` names the file):

* only regular files (a link the operator names is followed; a FIFO, socket, device or directory
  is refused) whose name does not start with ``.`` (hidden entries are not read as invoices);
* at most ``max_bytes`` (the extraction limit), enforced while streaming too, so a file that grows
  or lies about its size stops at the cap;
* one name, one file: two different files with the same base name (from different folders) are
  refused, never one silently replacing the other (identical copies count once);
* a different file already under that name in the day folder is refused unless ``replace``; the
  same bytes (or the very file, already in place) are left as they are: ingesting is idempotent.

Files are streamed to ``<inbox>/.ingest/`` (same file system, outside every day folder, so a
killed copy never leaves a partial invoice in a day) and renamed into place only when all are
staged.

Not for: listing or reading a day folder (``resources/inbox.py``) or the queue (the store).
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from resources.extractor import open_regular, sha_file

_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
}


def inside(root: str | Path, path: str | Path) -> bool:
    """Whether ``path``, all links resolved, lies within ``root`` (also resolved)."""
    real_root = os.path.realpath(root)
    return os.path.commonpath([real_root, os.path.realpath(path)]) == real_root


class IngestError(ValueError):
    """Files that cannot be ingested as given; nothing was copied."""


@dataclass(frozen=True)
class _Plan:
    source: Path
    target: Path
    action: str  # "copied", "replaced", "unchanged" or "in place"


def _check_source(source: Path, max_bytes: int) -> None:
    try:
        info = os.stat(source)
    except OSError as exc:
        raise IngestError(f"{source}: cannot read ({exc.strerror or exc})") from exc
    if not stat.S_ISREG(info.st_mode):
        kind = _KINDS.get(stat.S_IFMT(info.st_mode), "not a regular file")
        raise IngestError(f"{source}: is {kind}, not a regular file")
    if source.name.startswith("."):
        raise IngestError(f"{source}: hidden names (starting with '.') are not read as invoices")
    if info.st_size > max_bytes:
        raise IngestError(f"{source}: {info.st_size} bytes > limit {max_bytes}")


def _plan(sources: list[Path], folder: Path, max_bytes: int, replace: bool) -> list[_Plan]:
    by_name: dict[str, Path] = {}
    for source in sources:
        _check_source(source, max_bytes)
        first = by_name.setdefault(source.name, source)
        if first is not source and not _same_bytes(first, source):
            raise IngestError(
                f"two different files are named {source.name!r}: {first} and {source} "
                "(rename one; neither was copied)"
            )
    plans = []
    for name, source in by_name.items():
        target = folder / name
        action = "copied"
        if os.path.lexists(target):
            if target.is_symlink() or not target.is_file():
                raise IngestError(f"{target} exists and is not a regular file")
            if os.path.samefile(source, target):
                action = "in place"
            elif _same_bytes(source, target):
                action = "unchanged"
            elif replace:
                action = "replaced"
            else:
                raise IngestError(
                    f"{target} already holds a different file; pass --replace to replace it"
                )
        plans.append(_Plan(source, target, action))
    return plans


def _same_bytes(a: Path, b: Path) -> bool:
    return os.path.samefile(a, b) or (
        a.stat().st_size == b.stat().st_size and sha_file(a) == sha_file(b)
    )


def _stage(source: Path, staging: Path, max_bytes: int) -> Path:
    """Stream ``source`` to a new file in ``staging``, stopping past ``max_bytes``."""
    handle, name = tempfile.mkstemp(dir=staging, prefix="ingest-")
    staged, copied = Path(name), 0
    try:
        os.fchmod(handle, 0o644)  # as a plain copy would be, not mkstemp's owner-only 0600
        with open_regular(source) as src, os.fdopen(handle, "wb") as out:
            for chunk in iter(lambda: src.read(1 << 20), b""):
                copied += len(chunk)
                if copied > max_bytes:
                    raise IngestError(f"{source}: more than {max_bytes} bytes (limit); not copied")
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
    except OSError as exc:
        staged.unlink(missing_ok=True)
        raise IngestError(f"{source}: cannot read ({exc.strerror or exc})") from exc
    except BaseException:
        staged.unlink(missing_ok=True)
        raise
    return staged


def ingest_files(
    root: Path, folder: Path, sources: list[Path], max_bytes: int, replace: bool = False
) -> list[tuple[Path, str]]:
    """Copy ``sources`` into ``folder`` (a day folder under the inbox ``root``), all or none;
    returns each target with what happened to it."""
    if folder.exists() and not inside(root, folder):
        raise IngestError(f"{folder} links out of the inbox {root}; nothing was copied")
    plans = _plan(sources, folder, max_bytes, replace)
    moving = [p for p in plans if p.action in ("copied", "replaced")]
    if not moving:
        return [(p.target, p.action) for p in plans]
    staging = root / ".ingest"
    staging.mkdir(parents=True, exist_ok=True)
    staged: list[Path] = []
    try:
        for plan in moving:
            staged.append(_stage(plan.source, staging, max_bytes))
        folder.mkdir(parents=True, exist_ok=True)
        for plan, path in zip(moving, staged, strict=True):
            os.replace(path, plan.target)
    finally:
        for path in staged:
            path.unlink(missing_ok=True)  # renamed ones are gone already
        with contextlib.suppress(OSError):  # not empty: another ingest is staging meanwhile
            staging.rmdir()
    return [(p.target, p.action) for p in plans]
