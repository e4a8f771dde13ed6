"""Start ``invoice-ops serve`` as a real process on a free port and wait until it answers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.conftest import REPO

TOKEN = "alice-secret-token-for-tests"
OTHER_TOKEN = "bob-secret-token-for-tests"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_tokens(path: Path) -> Path:
    from invoice_assets.api.settings import hash_token

    path.write_text(
        "operators:\n"
        f"  - name: alice\n    token_sha256: {hash_token(TOKEN)}\n"
        f"  - name: bob\n    token_sha256: {hash_token(OTHER_TOKEN)}\n",
        encoding="utf-8",
    )
    return path


@contextmanager
def running_server(
    env: dict[str, str], log: Path, cache_seconds: float = 0.0, args: Sequence[str] = ()
) -> Iterator[str]:
    """The base URL of a served API; the process is stopped afterwards."""
    port = free_port()
    full = {k: v for k, v in os.environ.items() if not k.startswith(("INVOICE_", "OPENAI_"))}
    full |= env
    with log.open("w") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "invoice_assets.cli",
                "serve",
                "--port",
                str(port),
                "--readiness-cache-seconds",
                str(cache_seconds),
                *args,
            ],
            cwd=REPO,
            env=full,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited: {log.read_text()}")
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextmanager
def smoke_day_server(
    backend: str, root: Path, day: str, args: Sequence[str] = ()
) -> Iterator[tuple[str, dict[str, str]]]:
    """A served API over a store (``backend``: sqlite, or a throwaway PostgreSQL database)
    holding ``day`` materialised from the smoke fixtures and a truncated file; (base URL, env)."""
    import contextlib

    import pytest

    from tests.assets.helpers import materialize_day
    from tests.conftest import put_smoke_fixtures, set_product_env, throwaway_database

    env = {
        "INVOICE_HOME": str(root / "home"),
        "INVOICE_OPS_TOKENS_FILE": str(write_tokens(root / "tokens.yaml")),
    }
    with contextlib.ExitStack() as stack:
        if backend == "postgresql":
            env["INVOICE_DB_URL"] = stack.enter_context(throwaway_database())
        put_smoke_fixtures(root / "home" / "inbox", day, broken=True)
        with pytest.MonkeyPatch.context() as mp:
            set_product_env(mp, env)
            assert materialize_day(env, day).success
        with running_server(env, root / "server.log", args=args) as base:
            yield base, env
