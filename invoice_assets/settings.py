"""Runtime settings from the environment (SPEC §8), read when asked, never at import.

The environment variable names are part of the product's contract: ``INVOICE_HOME``,
``INVOICE_INBOX``, ``INVOICE_DB_URL``, ``DAGSTER_HOME``, ``INVOICE_ALERT_WEBHOOK_URL``,
``INVOICE_OPS_TOKENS_FILE``, ``OPENAI_API_KEY``, ``OPENAI_BASE_URL``, ``INVOICE_OPENAI_MODEL``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from resources.store import InvoiceStore

CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"


@dataclass(frozen=True)
class Settings:
    home: Path
    inbox: Path
    db_url: str | None
    dagster_home: Path
    webhook_url: str | None
    tokens_file: Path | None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        home = Path(env.get("INVOICE_HOME") or ".invoice_home").resolve()
        tokens = env.get("INVOICE_OPS_TOKENS_FILE")
        return cls(
            home=home,
            inbox=Path(env.get("INVOICE_INBOX") or home / "inbox").resolve(),
            db_url=env.get("INVOICE_DB_URL") or None,
            dagster_home=Path(env.get("DAGSTER_HOME") or home / "dagster").resolve(),
            webhook_url=env.get("INVOICE_ALERT_WEBHOOK_URL") or None,
            tokens_file=Path(tokens) if tokens else None,
        )

    def store(self) -> InvoiceStore:
        """The store with plain values (for the CLI and API, outside Dagster)."""
        return InvoiceStore(db_url=self.db_url, home=str(self.home))

    def prepare_dagster_home(self) -> Path:
        """Create ``DAGSTER_HOME`` with the shipped instance config if it has none yet."""
        self.dagster_home.mkdir(parents=True, exist_ok=True)
        target = self.dagster_home / "dagster.yaml"
        if not target.exists():
            shutil.copyfile(CONFIG_DIR / "dagster.yaml", target)
        return self.dagster_home
