"""Drive Dagster the way its UI does: a webserver (and daemon) on a throwaway home, and the
GraphQL calls the UI's pages make (launch a backfill, Materialize, stop a sensor, read a
partition's materialization and check executions).

Shared by the UI test (``tests/test_ui_graphql.py``), the UI benchmark (``bench/ui_materialize.py``)
and, through ``DagsterGraphQL`` (the calls alone, for a webserver started elsewhere), the
production-topology test (``tests/deploy/``). Not for the product: nothing in ``invoice_assets``
imports it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
LOCATION = "invoice_assets"
REPOSITORY = "__repository__"
IMPLICIT_JOB = "__ASSET_JOB"
FROM_UI = {"key": "dagster/from_ui", "value": "true"}  # the tag the UI puts on its launches
FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class GraphQLError(RuntimeError):
    pass


class DagsterGraphQL:
    """The GraphQL calls the UI's pages make, against a webserver already serving ``url``
    (``http://host:port/graphql``)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.client = httpx.Client(timeout=60)

    # -- GraphQL --------------------------------------------------------------------------------
    def query(self, text: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        response = self.client.post(self.url, json={"query": text, "variables": variables or {}})
        response.raise_for_status()
        body = response.json()
        if body.get("errors"):
            raise GraphQLError(str(body["errors"])[:2000])
        return body["data"]

    def stop_sensors(self, location: str = LOCATION) -> list[str]:
        """Stop every running sensor of a location (the UI's sensor toggle)."""
        data = self.query(
            """query($selector: RepositorySelector!) { sensorsOrError(repositorySelector: $selector)
               { ... on Sensors { results { name sensorState { id selectorId status } } } } }""",
            {"selector": {"repositoryLocationName": location, "repositoryName": REPOSITORY}},
        )
        stopped = []
        for sensor in data["sensorsOrError"]["results"]:
            state = sensor["sensorState"]
            if state["status"] != "RUNNING":
                continue
            self.query(
                """mutation($id: String, $selectorId: String) {
                     stopSensor(id: $id, jobSelectorId: $selectorId) {
                       ... on StopSensorMutationResult { instigationState { status } }
                       ... on PythonError { message } } }""",
                {"id": state["id"], "selectorId": state["selectorId"]},
            )
            stopped.append(sensor["name"])
        return stopped

    def asset_keys(self) -> list[list[str]]:
        data = self.query("{ assetNodes { assetKey { path } } }")
        return [n["assetKey"]["path"] for n in data["assetNodes"]]

    def launch_backfill(self, days: Sequence[str], assets: Sequence[Sequence[str]]) -> str:
        """The asset backfill the UI's "Materialize selected → backfill" dialog launches."""
        data = self.query(
            """mutation($params: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams:
                 $params) { __typename ... on LaunchBackfillSuccess { backfillId }
                 ... on PythonError { message } ... on InvalidStepError { invalidStepKey } } }""",
            {
                "params": {
                    "partitionNames": list(days),
                    "assetSelection": [{"path": list(a)} for a in assets],
                    "fromFailure": False,
                    "tags": [FROM_UI],
                }
            },
        )
        result = data["launchPartitionBackfill"]
        if result["__typename"] != "LaunchBackfillSuccess":
            raise GraphQLError(str(result))
        return str(result["backfillId"])

    def backfill(self, backfill_id: str) -> dict[str, Any]:
        data = self.query(
            """query($id: String!) { partitionBackfillOrError(backfillId: $id) {
                 ... on PartitionBackfill { id status runs(limit: 100) { runId status
                 startTime endTime tags { key value } } } } }""",
            {"id": backfill_id},
        )
        return data["partitionBackfillOrError"]

    def launch_run(
        self,
        job: str,
        partition: str,
        assets: Sequence[Sequence[str]] | None = None,
        checks: Sequence[tuple[Sequence[str], str]] | None = None,
    ) -> str:
        """A run as the UI launches it: ``Materialize`` on asset pages (the implicit asset job
        with the selected assets and their checks) or a job's launchpad."""
        selector: dict[str, Any] = {
            "repositoryLocationName": LOCATION,
            "repositoryName": REPOSITORY,
            "pipelineName": job,
        }
        if assets is not None:
            selector["assetSelection"] = [{"path": list(a)} for a in assets]
            selector["assetCheckSelection"] = [
                {"assetKey": {"path": list(a)}, "name": name} for a, name in checks or []
            ]
        data = self.query(
            """mutation($params: ExecutionParams!) { launchPipelineExecution(executionParams:
                 $params) { __typename ... on LaunchRunSuccess { run { runId } }
                 ... on PythonError { message } ... on RunConfigValidationInvalid { errors {
                 message } } } }""",
            {
                "params": {
                    "selector": selector,
                    "mode": "default",
                    "executionMetadata": {
                        "tags": [{"key": "dagster/partition", "value": partition}, FROM_UI]
                    },
                    "runConfigData": {},
                }
            },
        )
        result = data["launchPipelineExecution"]
        if result["__typename"] != "LaunchRunSuccess":
            raise GraphQLError(str(result))
        return str(result["run"]["runId"])

    def run(self, run_id: str) -> dict[str, Any]:
        data = self.query(
            """query($id: ID!) { runOrError(runId: $id) { ... on Run { runId status startTime
                 endTime tags { key value } } } }""",
            {"id": run_id},
        )
        return data["runOrError"]

    def run_messages(self, run_id: str) -> list[str]:
        data = self.query(
            """query($id: ID!) { logsForRun(runId: $id, limit: 5000) { ... on EventConnection {
                 events { __typename ... on MessageEvent { message } } } } }""",
            {"id": run_id},
        )
        return [e.get("message") or "" for e in data["logsForRun"]["events"]]

    def latest_materialization(self, asset: str, day: str) -> dict[str, Any]:
        """What the asset's partition page shows for a day: its latest materialization's
        metadata (label → value)."""
        data = self.query(
            """query($key: AssetKeyInput!, $day: String!) { assetOrError(assetKey: $key) {
                 ... on Asset { assetMaterializations(partitions: [$day], limit: 1) {
                 partition runId metadataEntries { __typename label
                 ... on IntMetadataEntry { intValue } ... on FloatMetadataEntry { floatValue }
                 ... on TextMetadataEntry { text } } } } } }""",
            {"key": {"path": [asset]}, "day": day},
        )
        (event,) = data["assetOrError"]["assetMaterializations"]
        values: dict[str, Any] = {"run_id": event["runId"], "partition": event["partition"]}
        for entry in event["metadataEntries"]:
            values[entry["label"]] = entry.get(
                "intValue", entry.get("floatValue", entry.get("text"))
            )
        return values

    def check_executions(self, asset: str, check: str) -> list[dict[str, Any]]:
        """A check's executions as its page lists them: status, partition, description."""
        data = self.query(
            """query($key: AssetKeyInput!, $check: String!) { assetCheckExecutions(assetKey:
                 $key, checkName: $check, limit: 100) { runId status partition
                 evaluation { partition description success } } }""",
            {"key": {"path": [asset]}, "check": check},
        )
        return list(data["assetCheckExecutions"])


class DagsterUI(DagsterGraphQL):
    """A webserver over ``workspace.yaml`` and, once ``start_daemon`` is called, the daemon."""

    def __init__(self, home: Path, env: Mapping[str, str]) -> None:
        self.home = home
        self.dagster_home = home / "dagster"
        self.dagster_home.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / "config" / "dagster.yaml", self.dagster_home / "dagster.yaml")
        self.env = {**env, "DAGSTER_HOME": str(self.dagster_home)}
        self.port = free_port()
        super().__init__(f"http://127.0.0.1:{self.port}/graphql")
        self.processes: list[subprocess.Popen[bytes]] = []

    # -- processes ------------------------------------------------------------------------------
    def _spawn(self, *command: str, log: str) -> subprocess.Popen[bytes]:
        out = (self.home / log).open("wb")
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / command[0]), *command[1:]],
            cwd=ROOT,
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes.append(process)
        return process

    def start_webserver(self, timeout: float = 180) -> None:
        server = self._spawn(
            "dagster-webserver",
            "-w",
            "workspace.yaml",
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            log="webserver.log",
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise RuntimeError(f"webserver exited: {self.log('webserver.log')[-2000:]}")
            try:
                data = self.query(
                    "{ workspaceOrError { ... on Workspace { locationEntries {"
                    " name loadStatus } } } }"
                )
                entries = data["workspaceOrError"]["locationEntries"]
                if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                    return
            except (httpx.HTTPError, GraphQLError):
                pass
            time.sleep(0.5)
        raise TimeoutError("the webserver did not load the workspace")

    def start_daemon(self) -> None:
        self._spawn("dagster-daemon", "run", "-w", "workspace.yaml", log="daemon.log")

    def log(self, name: str) -> str:
        path = self.home / name
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        self.client.close()
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)

    def __enter__(self) -> DagsterUI:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- waiting ------------------------------------------------------------------------------
    def wait_backfill(self, backfill_id: str, timeout: float = 600) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.backfill(backfill_id)
            runs = state.get("runs") or []
            done = state["status"] in ("COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED")
            if done and all(r["status"] in FINISHED for r in runs):
                return state
            time.sleep(1)
        raise TimeoutError(f"backfill {backfill_id} not done: {self.log('daemon.log')[-3000:]}")

    def wait_run(self, run_id: str, timeout: float = 600) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.run(run_id)
            if run["status"] in FINISHED:
                return run
            time.sleep(0.5)
        raise TimeoutError(f"run {run_id} not finished: {self.log('daemon.log')[-3000:]}")
