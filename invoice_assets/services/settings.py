"""Runtime settings from the environment (SPEC §8), read when asked, never at import.

The environment variable names are part of the product's contract: ``INVOICE_HOME``,
``INVOICE_INBOX``, ``INVOICE_DB_URL``, ``DAGSTER_HOME``, ``INVOICE_ALERT_WEBHOOK_URL``,
``INVOICE_OPS_TOKENS_FILE``, ``OPENAI_API_KEY``, ``OPENAI_BASE_URL``, ``INVOICE_OPENAI_MODEL``,
``INVOICE_PARTITIONS_START`` (first daily partition, default 2024-01-01),
``INVOICE_BACKFILL_POLICY`` (``single_run``, the default, or ``per_day``),
``INVOICE_EXTRACTION_MODE`` (``offline``, ``openai``, ``auto``, the default, or ``compare``),
``INVOICE_OCR`` (``on``, the default, or ``off``) and ``INVOICE_CHUNK_INVOICES`` (invoices a
stage holds at once; default ``resources.store.resource.DEFAULT_CHUNK_INVOICES``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from invoice_assets.services.partitions import (
    BACKFILL_POLICIES,
    DEFAULT_START,
    SINGLE_RUN,
    DailyLayout,
)
from resources.store import InvoiceStore

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"


class SettingsError(ValueError):
    """An environment variable with a value the product cannot use (the message names it)."""


@dataclass(frozen=True)
class Settings:
    home: Path
    inbox: Path
    db_url: str | None
    dagster_home: Path
    webhook_url: str | None
    tokens_file: Path | None
    openai_api_key: str | None = None
    openai_base_url: str | None = None
    openai_model: str | None = None
    partitions_start: str = DEFAULT_START
    backfill_policy: str = SINGLE_RUN
    extraction_mode: str = "auto"  # INVOICE_EXTRACTION_MODE: offline | openai | auto | compare
    ocr: str = "on"  # INVOICE_OCR: on | off
    chunk_invoices: str | None = None  # as given; ``store()`` checks it

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
            openai_api_key=env.get("OPENAI_API_KEY") or None,
            openai_base_url=env.get("OPENAI_BASE_URL") or None,
            openai_model=env.get("INVOICE_OPENAI_MODEL") or None,
            partitions_start=env.get("INVOICE_PARTITIONS_START") or DEFAULT_START,
            backfill_policy=env.get("INVOICE_BACKFILL_POLICY") or SINGLE_RUN,
            extraction_mode=(env.get("INVOICE_EXTRACTION_MODE") or "auto").strip().lower(),
            ocr=(env.get("INVOICE_OCR") or "on").strip().lower(),
            chunk_invoices=env.get("INVOICE_CHUNK_INVOICES") or None,
        )

    def __repr__(self) -> str:  # never print the key or a database password
        database = "url set" if self.db_url else "sqlite"
        return f"Settings(home={self.home!s}, inbox={self.inbox!s}, db={database})"

    def layout(self) -> DailyLayout:
        """The daily partitions and backfill policy; ``SettingsError`` naming the variable when
        a value is invalid."""
        try:
            return DailyLayout(self.partitions_start, self.backfill_policy)
        except ValueError:
            if self.backfill_policy not in BACKFILL_POLICIES:
                raise SettingsError(
                    f"INVOICE_BACKFILL_POLICY={self.backfill_policy!r}: "
                    f"expected one of {', '.join(BACKFILL_POLICIES)}"
                ) from None
            raise SettingsError(
                f"INVOICE_PARTITIONS_START={self.partitions_start!r}: expected a day YYYY-MM-DD"
            ) from None

    def extraction(self) -> tuple[str, bool]:
        """The extraction mode and whether OCR is on; ``SettingsError`` naming the variable."""
        modes = ("offline", "openai", "auto", "compare")
        if self.extraction_mode not in modes:
            raise SettingsError(
                f"INVOICE_EXTRACTION_MODE={self.extraction_mode!r}: expected one of "
                f"{', '.join(modes)}"
            )
        switches = {"on": True, "1": True, "true": True, "off": False, "0": False, "false": False}
        if self.ocr not in switches:
            raise SettingsError(f"INVOICE_OCR={self.ocr!r}: expected on or off")
        return self.extraction_mode, switches[self.ocr]

    def openai_check(self) -> Callable[[], tuple[str, str]] | None:
        """The readiness probe of the OpenAI API, or None when the extractor is disabled."""
        if not self.openai_api_key:
            return None
        from resources.openai_extractor import OpenAIExtractor

        extractor = OpenAIExtractor(api_key=self.openai_api_key, base_url=self.openai_base_url)
        if self.openai_model:
            extractor = OpenAIExtractor(
                api_key=self.openai_api_key, base_url=self.openai_base_url, model=self.openai_model
            )
        return extractor.check_api

    def store(self) -> InvoiceStore:
        """The store with plain values (for the CLI and API, outside Dagster)."""
        return InvoiceStore(db_url=self.db_url, home=str(self.home), **self.store_sizes())

    def store_sizes(self) -> dict[str, int]:
        """The store's sizing fields set in the environment (``INVOICE_CHUNK_INVOICES``);
        ``SettingsError`` naming the variable when it is not a positive whole number."""
        if self.chunk_invoices is None:
            return {}
        text = self.chunk_invoices.strip()
        if not (text.isascii() and text.isdigit() and int(text) > 0):
            raise SettingsError(
                f"INVOICE_CHUNK_INVOICES={self.chunk_invoices!r}: expected a positive whole number"
            )
        return {"chunk_invoices": int(text)}

    def prepare_dagster_home(self) -> Path:
        """Create ``DAGSTER_HOME`` with the shipped instance config if it has none yet."""
        self.dagster_home.mkdir(parents=True, exist_ok=True)
        target = self.dagster_home / "dagster.yaml"
        if not target.exists():
            shutil.copyfile(CONFIG_DIR / "dagster.yaml", target)
        return self.dagster_home
