"""Thresholds: loading ``config/thresholds.yaml`` and the resource that hands it to Dagster.

This module and the model in ``invoice_assets/domain/thresholds.py`` are the only Python modules
allowed to name threshold values (the gate in ``.ci/threshold_gate.py`` enforces it), and neither
holds one: the model has no defaults, so the YAML file is the single source of truth. Here:

* ``load_thresholds()`` reads the file (``INVOICE_THRESHOLDS_FILE`` overrides the path), applies
  ``INVOICE_THRESHOLD__<SECTION>__<KEY>`` environment overrides, and validates everything at once
  through the domain model. A broken config raises ``ThresholdsError`` listing *every* violation.
* ``ThresholdsResource`` hands the validated values to assets, checks and sensors.

Not for: reading any other configuration (market data, tariffs, tokens live elsewhere).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from invoice_assets.domain.thresholds import (
    SECTIONS,
    Thresholds,
    ThresholdsError,
    Violation,
    validate_values,
)
from resources.config_file import ConfigFileError, load_yaml_text, read_yaml

ENV_FILE = "INVOICE_THRESHOLDS_FILE"
ENV_PREFIX = "INVOICE_THRESHOLD__"
DEFAULT_FILE = Path(__file__).resolve().parent.parent / "config" / "thresholds.yaml"


def _env_overrides(
    raw: dict[str, Any], env: Mapping[str, str]
) -> tuple[dict[str, Any], list[Violation]]:
    out = {k: dict(v) if isinstance(v, Mapping) else v for k, v in raw.items()}
    problems: list[Violation] = []
    for name, text in sorted(env.items()):
        if not name.startswith(ENV_PREFIX):
            continue
        parts = name[len(ENV_PREFIX) :].split("__")
        if len(parts) != 2 or not all(parts):
            problems.append(
                Violation("I11", (name,), "expected INVOICE_THRESHOLD__<SECTION>__<KEY>")
            )
            continue
        section = _match(parts[0], SECTIONS)
        model = SECTIONS.get(section) if section else None
        key = _match(parts[1], model.model_fields) if model else None
        if section is None or key is None:
            problems.append(Violation("I11", (name,), "names no known section and key"))
            continue
        try:
            value = load_yaml_text(text)
        except ConfigFileError:
            value = text  # reported by validation as "expected a number, got str"
        body = out.setdefault(section, {})
        if isinstance(body, dict):
            body[key] = value
    return out, problems


def _match(name: str, known: Mapping[str, Any]) -> str | None:
    """Environment names are case-insensitive (``MISMATCH`` matches ``Mismatch``)."""
    for candidate in known:
        if candidate.upper() == name.upper():
            return candidate
    return None


def thresholds_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    return Path(env.get(ENV_FILE) or DEFAULT_FILE)


def check_thresholds(
    path: str | Path | None = None, env: Mapping[str, str] | None = None
) -> tuple[Thresholds | None, list[Violation], str]:
    """Read, override and validate; returns (model or None, violations, source description)."""
    env = os.environ if env is None else env
    file = Path(path) if path is not None else thresholds_path(env)
    source = str(file)
    try:  # bounded: a regular file, its size and its nesting (``resources/config_file.py``)
        raw = read_yaml(file)
    except ConfigFileError as exc:
        return None, [Violation("file", (source,), str(exc))], source
    if not isinstance(raw, dict):
        return (
            None,
            [Violation("I11", (source,), "the config must be a mapping of sections")],
            source,
        )
    merged, problems = _env_overrides(raw, env)
    model, violations = validate_values(merged)
    violations = problems + violations
    return (None if violations else model), violations, source


def load_thresholds(
    path: str | Path | None = None, env: Mapping[str, str] | None = None
) -> Thresholds:
    """The validated thresholds, or ``ThresholdsError`` listing every violation."""
    model, violations, source = check_thresholds(path, env)
    if model is None:
        raise ThresholdsError(violations, source)
    return model


class ThresholdsResource(dg.ConfigurableResource):
    """The validated thresholds for assets, checks and sensors.

    Built in the definitions module from ``load_thresholds()`` (so a broken config stops the code
    location from loading); ``get()`` re-validates the values and returns the typed model.
    """

    values: dict[str, dict[str, float]] = Field(
        description="Section → key → value, exactly as validated from config/thresholds.yaml."
    )
    source: str = Field(description="Where the values came from (file path and overrides).")

    @classmethod
    def from_thresholds(cls, thresholds: Thresholds, source: str) -> ThresholdsResource:
        return cls(values=thresholds.model_dump(), source=source)

    @cached_property
    def _model(self) -> Thresholds:
        model, violations = validate_values(self.values)
        if model is None:
            raise ThresholdsError(violations, self.source)
        return model

    def get(self) -> Thresholds:
        """The typed, validated thresholds."""
        return self._model
