"""Bounded reading of small YAML configuration files (thresholds, operator tokens).

A configuration path is whatever an environment variable says, so it may name a FIFO
(``/dev/stdin``), a device (``/dev/zero``), a directory or a huge file, and a YAML document may
nest deeply enough to exhaust the composer's recursion. ``read_yaml`` refuses all of these with
``ConfigFileError`` (a one-line reason) instead of hanging, reading without end, or raising
``RecursionError``: only regular files, at most ``MAX_BYTES``, UTF-8, nested at most
``MAX_DEPTH`` collections deep (checked on the parser's event stream, which is iterative, before
anything is composed). ``load_yaml_text`` applies the same depth rule to text from elsewhere
(environment overrides).

Not for: what the documents must contain (``resources/thresholds.py``, ``api/settings.py``).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import yaml

MAX_BYTES = 1024 * 1024  # the thresholds file is ~3 kB, a tokens file a few lines per operator
MAX_DEPTH = 32  # the deepest document here nests 3 levels


class ConfigFileError(ValueError):
    """A configuration file that cannot be read as a bounded YAML document."""


def _read_text(path: Path) -> str:
    try:
        # O_NONBLOCK: opening a FIFO with no writer must not wait for one.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise ConfigFileError(f"cannot read: {exc.strerror or exc}") from exc
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = "a directory" if stat.S_ISDIR(mode) else "a FIFO, socket or device"
            raise ConfigFileError(f"cannot read: {kind}, not a regular file")
        os.set_blocking(fd, True)
        with os.fdopen(os.dup(fd), "rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    finally:
        os.close(fd)
    if len(raw) > MAX_BYTES:
        raise ConfigFileError(f"cannot read: larger than the {MAX_BYTES} bytes a config may hold")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigFileError(f"cannot read: not UTF-8 ({exc})") from exc


def load_yaml_text(text: str) -> Any:
    """``yaml.safe_load`` of ``text`` once its nesting is known to be at most ``MAX_DEPTH``."""
    depth = 0
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    raise ConfigFileError(f"not valid YAML: nested deeper than {MAX_DEPTH} levels")
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigFileError(f"not valid YAML: {exc}") from exc


def read_yaml(path: Path) -> Any:
    """The YAML document in the file at ``path``, bounded as the module docstring says."""
    return load_yaml_text(_read_text(path))
