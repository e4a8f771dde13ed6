"""``invoice-ops`` as a real process: an environment holding only the product variables given,
and one call of the CLI with a bound on how long it may take (for tests that kill, signal or
time out processes, or need a process of their own)."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import REPO


def product_env(**values: str) -> dict[str, str]:
    """``os.environ`` without INVOICE_*, OPENAI_* and DAGSTER_HOME, plus ``values``."""
    kept = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("INVOICE_", "OPENAI_")) and k != "DAGSTER_HOME"
    }
    return kept | values


def cli(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """``invoice-ops ARGS`` run to its end (TimeoutExpired past ``timeout``: it never ended)."""
    return subprocess.run(
        [sys.executable, "-m", "invoice_assets.cli", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
