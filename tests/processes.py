"""Real processes for tests: ``invoice-ops`` run to its end with a bound on how long it may take
(tests that kill, signal or time out processes), and the product's long-running commands (the code
server, the webserver, the daemon, the ops API) started from this virtual environment, each in its
own process group so that it and everything it spawned (run workers) can be killed; an environment
holding only the product variables a test gives.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from tests.conftest import REPO

BIN = Path(sys.executable).parent
T = TypeVar("T")

# Variables a test sets itself: anything inherited from the shell running pytest is dropped.
OWN_PREFIXES = ("INVOICE_", "OPENAI_", "DAGSTER_HOME", "DAGSTER_PG_", "DAGSTER_CODE_SERVER_")


def product_env(**values: str) -> dict[str, str]:
    """``os.environ`` without the product's variables (INVOICE_*, OPENAI_*, DAGSTER_HOME and
    the deployment's DAGSTER_PG_*, DAGSTER_CODE_SERVER_*), plus ``values``."""
    return {k: v for k, v in os.environ.items() if not k.startswith(OWN_PREFIXES)} | values


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


def pg_instance_env(url: str) -> dict[str, str]:
    """The DAGSTER_PG_* variables that point ``deploy/dagster.yaml`` at the database ``url``."""
    parts = urlsplit(url)
    return {
        "DAGSTER_PG_USERNAME": parts.username or "postgres",
        "DAGSTER_PG_PASSWORD": parts.password or "unused-with-trust-auth",
        "DAGSTER_PG_HOST": parts.hostname or "127.0.0.1",
        "DAGSTER_PG_PORT": str(parts.port or 5432),
        "DAGSTER_PG_DB": parts.path.lstrip("/"),
    }


def command(argv: Sequence[str]) -> list[str]:
    """``argv`` with its program taken from this virtual environment."""
    program = BIN / argv[0]
    assert program.exists(), f"{argv[0]} is not installed in {BIN}"
    return [str(program), *argv[1:]]


class Processes:
    """Started processes, their logs, and one way to stop them all."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.started: dict[str, subprocess.Popen[bytes]] = {}
        logs.mkdir(parents=True, exist_ok=True)

    def start(self, name: str, argv: Sequence[str], env: Mapping[str, str]) -> None:
        with (self.logs / f"{name}.log").open("wb") as log:
            self.started[name] = subprocess.Popen(
                command(argv),
                cwd=REPO,
                env=dict(env),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: its children die with it
            )

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def all_logs(self) -> str:
        return "\n".join(f"--- {name}\n{self.log(name)}" for name in self.started)

    def check_alive(self) -> None:
        for name, process in self.started.items():
            if process.poll() is not None:
                raise AssertionError(f"{name} exited with {process.returncode}:\n{self.log(name)}")

    def wait_for(self, what: str, probe: Callable[[], T | None], timeout: float) -> T:
        """Poll ``probe`` (a server's own health answer) until it returns a value; fail early
        when a started process died."""
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            value = probe()
            if value is not None:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
            time.sleep(0.5)

    def stop_all(self) -> None:
        """SIGTERM every process group, then SIGKILL what is left after 20 s."""
        for process in self.started.values():
            _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for process in self.started.values():
            with suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            _signal_group(process, signal.SIGKILL)  # also run workers left behind
            process.wait(timeout=10)


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with suppress(ProcessLookupError):  # the group is gone already
        os.killpg(process.pid, sig)


@contextmanager
def processes(logs: Path) -> Iterator[Processes]:
    """Processes started inside the block are killed when it ends, however it ends."""
    running = Processes(logs)
    try:
        yield running
    finally:
        running.stop_all()


def _released(target: Callable[..., T], args: tuple, barrier, results) -> None:
    barrier.wait(timeout=60)
    try:
        results.put(("ok", target(*args)))
    except Exception as exc:  # reported to the test, which names it
        results.put(("error", f"{type(exc).__name__}: {exc}".splitlines()[0]))


def at_once(target: Callable[..., T], args: tuple, n: int) -> list[tuple[str, object]]:
    """``target(*args)`` in ``n`` processes released together at a barrier: each one's
    ``("ok", value)`` or ``("error", message)``.

    Forked, not spawned: the children start with the modules already imported, so they reach
    the barrier together (spawning interpreters that import Dagster took 20 s on 2 cores). A
    connection the parent holds must not be used by ``target``: it makes its own.
    """
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(n), context.Queue()
    workers = [
        context.Process(target=_released, args=(target, args, barrier, results)) for _ in range(n)
    ]
    for worker in workers:
        worker.start()
    try:
        return [results.get(timeout=120) for _ in workers]
    finally:
        for worker in workers:
            worker.join(timeout=60)
            if worker.is_alive():
                worker.kill()


def run(argv: Sequence[str], env: Mapping[str, str], timeout: float = 120) -> str:
    """Run a command to completion; its output, or an assertion error with it."""
    done = subprocess.run(
        command(argv),
        cwd=REPO,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, f"{argv} exited {done.returncode}:\n{done.stdout}{done.stderr}"
    return done.stdout
