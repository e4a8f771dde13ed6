"""API settings, validated when built (in ``create_app``'s caller, never at import).

Operators come from a YAML tokens file (``INVOICE_OPS_TOKENS_FILE``)::

    operators:
      - name: alice
        token_sha256: 5e884898da28047151d0e56f8dc62927...   # sha256 of the bearer token

Tokens are stored hashed; ``invoice-ops token`` prints a new token and its file line.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from resources.config_file import ConfigFileError, read_yaml
from resources.store import InvoiceStore


class SettingsError(ValueError):
    """Settings the API must not start with."""


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


def load_operators(path: Path | None) -> dict[str, str]:
    """token sha256 → operator name; an unreadable or malformed file is an error."""
    if path is None:
        return {}
    try:
        raw = read_yaml(path) or {}
    except ConfigFileError as exc:
        raise SettingsError(f"tokens file {path}: {exc}") from exc
    if not isinstance(raw, dict):
        raise SettingsError(f"tokens file {path}: expected a mapping with `operators:`")
    entries = raw.get("operators") or []
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise SettingsError(f"tokens file {path}: `operators` must be a list of mappings")
    operators: dict[str, str] = {}
    for entry in entries:
        name, digest = entry.get("name"), str(entry.get("token_sha256", "")).lower()
        if not name or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise SettingsError(f"tokens file {path}: each operator needs name and token_sha256")
        operators[digest] = str(name)
    return operators


@dataclass(frozen=True)
class ApiSettings:
    store: InvoiceStore
    operators: dict[str, str] = field(default_factory=dict)
    env: Mapping[str, str] | None = None  # for the config check (None: the process environment)
    openai_check: Callable[[], tuple[str, str]] | None = None
    dagster_home: Path | None = None  # the instance whose runs readiness checks (None: none)
    check_timeout_seconds: float = 2.0
    # Readiness answers are reused this long, so a load balancer or a scrape storm polling
    # /health/ready costs one round of checks per interval, not one per request; after it, one
    # background refresh runs while the last answer is served (``readiness.ReadinessCache``).
    readiness_cache_seconds: float = 1.0
    log_requests: bool = True

    def operator_for(self, token: str) -> str | None:
        digest = hash_token(token)
        for known, name in self.operators.items():
            if hmac.compare_digest(known, digest):
                return name
        return None
