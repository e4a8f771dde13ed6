"""``deploy/topology.sh``, the README's way to start the production topology on one host without
containers, as an operator runs it: ``up`` brings every service to its compose health check, the
daemon's inbox sensor runs a day dropped into the inbox through the code server, ``env`` points
the CLI at the same store, and ``down`` leaves no process behind."""

from __future__ import annotations

import json
import os
import subprocess
import time
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from invoice_assets.demo import generate_demo
from invoice_assets.domain.days import local_day
from invoice_assets.kernel.clock import SYSTEM_CLOCK
from tests.api.server import free_port
from tests.conftest import REPO, throwaway_database
from tests.deploy.deploy_files import service_command
from tests.processes import BIN, cli, product_env

SCRIPT = REPO / "deploy" / "topology.sh"
INVOICES = 12


def _script(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _exported(text: str) -> dict[str, str]:
    """``export NAME=value`` lines (bash ``%q`` quoting) as a mapping, read by bash itself."""
    shown = subprocess.run(
        ["bash", "-c", f"{text}\nenv -0"], capture_output=True, text=True, check=True, env={}
    ).stdout
    return dict(item.split("=", 1) for item in shown.split("\0") if "=" in item)


def _alive(pid: int) -> bool:
    """The process runs (one that exited and waits to be reaped by its parent does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in {"Z", "X"}


@pytest.mark.timeout(400)
def test_the_topology_script_starts_runs_and_stops_the_services(tmp_path: Path) -> None:
    state = tmp_path / "topology"
    day = (local_day(SYSTEM_CLOCK.now()) - timedelta(days=1)).isoformat()
    generate_demo(state / "data" / "inbox", [day], INVOICES, seed=7)  # files already there
    with ExitStack() as stack:
        dagster_db = urlsplit(stack.enter_context(throwaway_database())).path.lstrip("/")
        store_db = urlsplit(stack.enter_context(throwaway_database())).path.lstrip("/")
        grpc, ui, api = (str(free_port()) for _ in range(3))
        env = product_env(
            PATH=f"{BIN}:{os.environ['PATH']}",
            INVOICE_BIN=str(BIN),
            TOPOLOGY_DIR=str(state),
            TOPOLOGY_DAGSTER_DB=dagster_db,
            TOPOLOGY_STORE_DB=store_db,
            TOPOLOGY_GRPC_PORT=grpc,
            DAGSTER_UI_PORT=ui,
            INVOICE_API_PORT=api,
            PGHOST="127.0.0.1",
            PGUSER="postgres",
        )
        stack.callback(_script, env, "down")  # whatever happens below

        # The services run compose's commands, on this host's ports.
        listed = dict(line.split(": ", 1) for line in _script(env, "commands").stdout.splitlines())
        ports = {"codeserver": grpc, "webserver": ui, "ops-api": api}
        for service, argv in listed.items():
            want = service_command(service, host="127.0.0.1", port=ports.get(service, ""))
            if service == "daemon":
                want = service_command(service)
            assert argv.split() == [str(BIN / want[0]), *want[1:]], service

        started = _script(env, "up")
        assert started.returncode == 0, started.stderr
        status = _script(env, "status")
        assert status.returncode == 0, status.stdout
        assert status.stdout.count(": healthy (pid ") == 4, status.stdout
        pids = {
            name: int((state / "run" / f"{name}.pid").read_text())
            for name in ("codeserver", "webserver", "daemon", "ops-api")
        }

        # The daemon's inbox sensor requests the day; the code server runs it; the CLI, pointed
        # at the same store by `env`, reads what the run wrote.
        cli_env = product_env(**_exported(_script(env, "env").stdout))
        assert cli_env["INVOICE_DB_URL"].endswith(f"/{store_db}")
        deadline, summary = time.monotonic() + 240, {}
        while time.monotonic() < deadline:
            shown = cli(cli_env, "summary", "--date", day, "--json", timeout=60)
            summary = json.loads(shown.stdout) if shown.returncode == 0 else {}
            if summary.get("counts", {}).get("total_invoices", 0) == INVOICES + 1:
                break
            time.sleep(3)
        assert summary["counts"]["total_invoices"] == INVOICES + 1, summary  # + the malformed file

        stopped = _script(env, "down")
        assert stopped.returncode == 0, stopped.stderr
        assert not [name for name, pid in pids.items() if _alive(pid)]
        after = _script(env, "status")
        assert after.returncode == 1 and after.stdout.count(": not running") == 4


def test_up_without_postgresql_says_where_it_looked_and_starts_nothing(tmp_path: Path) -> None:
    env = product_env(
        PATH=f"{BIN}:{os.environ['PATH']}",
        INVOICE_BIN=str(BIN),
        TOPOLOGY_DIR=str(tmp_path / "topology"),
        PGHOST="127.0.0.1",
        PGPORT=str(free_port()),  # nothing listens there
        PGUSER="postgres",
    )
    started = _script(env, "up", timeout=60)
    assert started.returncode != 0
    assert "PostgreSQL is not reachable as postgres@127.0.0.1:" in started.stderr
    assert not list((tmp_path / "topology" / "run").glob("*.pid"))
