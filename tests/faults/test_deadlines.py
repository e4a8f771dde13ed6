"""A server that drips its answer (headers at once, then one byte a second) against the OpenAI
extractor and the readiness probe: every call ends at its total deadline, the day's other files
go on, and no command is kept alive by a thread still waiting for the drip.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from invoice_assets.definitions import build_resources
from invoice_assets.standin import StandIn
from resources.openai_extractor import OpenAIExtractor
from tests.assets.helpers import graph_assets, store_for
from tests.conftest import openai_day, put_smoke_fixtures
from tests.processes import cli, product_env
from tests.resources.test_openai_extractor import KEY, tiny_pdf, tiny_png

DAY = "2025-04-09"


@pytest.fixture
def standin() -> Iterator[StandIn]:
    with StandIn(api_key=KEY) as server:
        yield server


def _alive_non_daemon() -> list[str]:
    return [t.name for t in threading.enumerate() if not t.daemon and t.is_alive()][1:]


def test_a_dripping_document_fails_at_its_deadline_and_the_days_other_files_proceed(
    tmp_path: Path, standin: StandIn, apply_env
) -> None:
    env, folder = openai_day(apply_env, tmp_path / "home", standin.base_url, KEY, DAY)
    (folder / "a-drip.pdf").write_bytes(tiny_pdf("drip"))  # sent first: max_concurrency 1
    (folder / "b-scan.pdf").write_bytes(tiny_pdf("scan"))
    (folder / "c-photo.png").write_bytes(tiny_png())
    put_smoke_fixtures(tmp_path / "home" / "inbox", DAY)
    standin.drip(1, seconds_per_byte=1.0)
    resources = build_resources(env)
    resources["openai"] = OpenAIExtractor(
        api_key=KEY,
        base_url=standin.base_url,
        timeout_seconds=30,  # a read never waits this long: a byte comes every second
        max_retries=2,
        deadline_seconds=3,
        max_concurrency=1,
    )

    result = dg.materialize(
        graph_assets(),
        partition_key=DAY,
        resources=resources,
        instance=dg.DagsterInstance.ephemeral(),
    )

    assert result.success
    rows = store_for(env).read_stage("extractions", [DAY]).set_index("source_file")
    assert rows.loc["a-drip.pdf", "status"] == "failed"
    assert rows.loc["a-drip.pdf", "error_code"] == "deadline_exceeded"
    others = rows.drop(index="a-drip.pdf")
    assert len(others) == 5 and set(others["status"]) == {"ok"}
    incidents = store_for(env).list_incidents(day=DAY)
    assert [i["error_code"] for i in incidents if i["primary_flag"] == "EXTRACTION_FAILED"] == [
        "deadline_exceeded"
    ]
    assert _alive_non_daemon() == []


def test_health_exits_at_its_timeout_when_the_openai_api_drips(
    tmp_path: Path, standin: StandIn
) -> None:
    standin.drip_all(1.0)
    env = product_env(
        INVOICE_HOME=str(tmp_path / "home"), OPENAI_API_KEY=KEY, OPENAI_BASE_URL=standin.base_url
    )
    started = time.monotonic()

    # before the deadline, the process never exited at all
    done = cli(env, "health", "--timeout", "1", "--json", timeout=120)

    assert done.returncode == 1, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["status"] == "not_ready" and "openai_api" in report["failing_checks"]
    assert "1 s" in str(report["checks"]["openai_api"])
    assert time.monotonic() - started < 60
