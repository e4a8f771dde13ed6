"""The Dagster webserver serves the code location: lineage read back through GraphQL."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import REPO

QUERY = """
{ assetNodes { assetKey { path } groupName dependencyKeys { path } } }
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_webserver_serves_the_asset_lineage(tmp_path: Path) -> None:
    port = _free_port()
    dagster_home = tmp_path / "dagster"
    dagster_home.mkdir()
    shutil.copy(REPO / "config" / "dagster.yaml", dagster_home / "dagster.yaml")
    env = {k: v for k, v in os.environ.items() if not k.startswith("INVOICE_")}
    env |= {"DAGSTER_HOME": str(dagster_home), "INVOICE_HOME": str(tmp_path / "home")}
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "dagster-webserver"),
            "-w",
            "workspace.yaml",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        nodes = None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and server.poll() is None:
            try:
                response = httpx.post(
                    f"http://127.0.0.1:{port}/graphql", json={"query": QUERY}, timeout=5
                )
                data = response.json().get("data") or {}
                if data.get("assetNodes"):
                    nodes = data["assetNodes"]
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        assert nodes is not None, "webserver did not serve the asset graph"
    finally:
        server.terminate()
        server.wait(timeout=30)

    parents = {
        "/".join(n["assetKey"]["path"]): sorted("/".join(d["path"]) for d in n["dependencyKeys"])
        for n in nodes
    }
    assert parents == {
        "extractions": [],
        "validated_invoices": ["extractions"],
        "offers": ["extractions", "validated_invoices"],
        "quality_scores": ["extractions", "offers", "validated_invoices"],
        "incidents": ["extractions", "quality_scores", "validated_invoices"],
        "run_summary": ["extractions", "incidents", "validated_invoices"],
        "system_health_report": ["extractions", "incidents", "validated_invoices"],
    }
    groups = {"/".join(n["assetKey"]["path"]): n["groupName"] for n in nodes}
    assert groups["system_health_report"] == "monitoring"
    assert groups["extractions"] == "invoices"
