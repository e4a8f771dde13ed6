"""The webserver of the production topology through its GraphQL, as the UI and an operator use
it: is the code location loaded from the code server, pause the sensors and schedules, set a
pool's limit, launch a job's partition backfill and wait for its runs. The calls the UI test
shares live in ``bench.dagster_ui.DagsterGraphQL``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from bench.dagster_ui import FINISHED, LOCATION, REPOSITORY, DagsterGraphQL, GraphQLError

SELECTOR = {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY}


class Webserver(DagsterGraphQL):
    def location_loaded(self) -> bool | None:
        """True once the webserver has loaded the location from the code server."""
        try:
            data = self.query(
                "{ workspaceOrError { ... on Workspace { locationEntries {"
                " name locationOrLoadError { __typename } } } } }"
            )
        except (httpx.HTTPError, GraphQLError):
            return None  # not serving yet
        for entry in data["workspaceOrError"].get("locationEntries", []):
            loaded = (entry["locationOrLoadError"] or {}).get("__typename")
            if entry["name"] == LOCATION and loaded == "RepositoryLocation":
                return True
        return None

    def stop_schedules(self) -> list[str]:
        """Stop every running schedule of the location (the UI's schedule toggle)."""
        data = self.query(
            """query($selector: RepositorySelector!) {
                 schedulesOrError(repositorySelector: $selector) { ... on Schedules {
                   results { id name scheduleState { status } } } } }""",
            {"selector": SELECTOR},
        )
        stopped = []
        for schedule in data["schedulesOrError"]["results"]:
            if schedule["scheduleState"]["status"] == "RUNNING":
                result = self.query(
                    """mutation($id: String) { stopRunningSchedule(id: $id) {
                         ... on ScheduleStateResult { scheduleState { status } }
                         ... on PythonError { message } } }""",
                    {"id": schedule["id"]},
                )["stopRunningSchedule"]
                assert result.get("scheduleState", {}).get("status") == "STOPPED", result
                stopped.append(schedule["name"])
        return stopped

    def set_pool_limit(self, pool: str, limit: int) -> None:
        """The limit of a concurrency pool (the UI's Concurrency page)."""
        data = self.query(
            """mutation($key: String!, $limit: Int!) {
                 setConcurrencyLimit(concurrencyKey: $key, limit: $limit) }""",
            {"key": pool, "limit": limit},
        )
        assert data["setConcurrencyLimit"] is True

    def launch_job_backfill(self, job: str, partitions: Sequence[str]) -> str:
        """A partition backfill of ``job`` from its partitions page: one run per partition
        when the job's assets have a per-day backfill policy."""
        data = self.query(
            """mutation($params: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams:
                 $params) { __typename ... on LaunchBackfillSuccess { backfillId }
                 ... on PythonError { message } ... on PartitionSetNotFoundError { message } } }""",
            {
                "params": {
                    "selector": {
                        "partitionSetName": f"{job}_partition_set",
                        "repositorySelector": SELECTOR,
                    },
                    "partitionNames": list(partitions),
                }
            },
        )
        result = data["launchPartitionBackfill"]
        if result["__typename"] != "LaunchBackfillSuccess":
            raise GraphQLError(str(result))
        return str(result["backfillId"])

    def finished_runs(self, backfill_id: str, expected: int) -> list[dict[str, Any]] | None:
        """The backfill's runs once ``expected`` of them exist and all have finished."""
        runs = self.backfill(backfill_id).get("runs") or []
        if len(runs) == expected and all(r["status"] in FINISHED for r in runs):
            return list(runs)
        return None
