"""A partition of PDFs and images extracted through the real OpenAI client against the stand-in."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from invoice_assets.definitions import build_resources
from invoice_assets.standin import StandIn
from resources.openai_extractor import OpenAIExtractor
from tests.assets.helpers import graph_assets, store_for
from tests.conftest import openai_day, put_smoke_fixtures
from tests.resources.test_openai_extractor import KEY, tiny_pdf, tiny_png

DAY = "2025-04-02"


@pytest.fixture
def standin():
    with StandIn(api_key=KEY) as server:
        yield server


def _env(tmp_path: Path, standin: StandIn, apply_env) -> dict[str, str]:
    env, folder = openai_day(apply_env, tmp_path / "home", standin.base_url, KEY, DAY)
    for n in range(3):
        (folder / f"scan-{n}.pdf").write_bytes(tiny_pdf(str(n)))
    (folder / "photo.png").write_bytes(tiny_png())
    put_smoke_fixtures(tmp_path / "home" / "inbox", DAY)
    return env


def _run(env: dict[str, str], standin: StandIn) -> dg.ExecuteInProcessResult:
    resources = build_resources(env)
    resources["openai"] = OpenAIExtractor(
        api_key=KEY, base_url=standin.base_url, timeout_seconds=2.0, max_retries=0, max_attempts=2
    )
    return dg.materialize(
        graph_assets(),
        partition_key=DAY,
        resources=resources,
        instance=dg.DagsterInstance.ephemeral(),
    )


def test_documents_are_extracted_once_and_a_rerun_makes_no_call(
    tmp_path, standin, apply_env
) -> None:
    env = _env(tmp_path, standin, apply_env)

    first = _run(env, standin)

    assert first.success
    assert standin.calls == 4
    extractions = store_for(env).read_stage("extractions", [DAY]).set_index("source_file")
    assert len(extractions) == 7
    documents = extractions.loc[["scan-0.pdf", "scan-1.pdf", "scan-2.pdf", "photo.png"]]
    assert set(documents["status"]) == {"ok"}
    assert set(documents["http_status"]) == {200}
    assert documents["extraction_ms"].notna().all()
    metadata = first.get_asset_materialization_events()[0].materialization.metadata
    assert metadata["openai_calls"].value == 4
    assert metadata["openai_input_tokens"].value > 0
    summary = store_for(env).load_document("run_summary", DAY)
    assert summary is not None
    assert summary["latency"]["extraction_ms"]["p50"] > 0

    second = _run(env, standin)

    assert second.success
    assert standin.calls == 4  # served from the cache
    metadata = second.get_asset_materialization_events()[0].materialization.metadata
    assert metadata["openai_cache_hits"].value == 4


def test_failing_documents_are_isolated_retried_and_then_exhausted(
    tmp_path, standin, apply_env
) -> None:
    env = _env(tmp_path, standin, apply_env)
    standin.server_error(1000, status=503)

    assert _run(env, standin).success
    store = store_for(env)
    extractions = store.read_stage("extractions", [DAY]).set_index("source_file")
    assert extractions.loc["scan-0.pdf", "error_code"] == "server_error"
    assert extractions.loc["scan-0.pdf", "http_status"] == 503
    assert (extractions.loc[["happy_path_invoice.json"], "status"] == "ok").all()
    assert standin.calls == 4

    assert _run(env, standin).success  # attempt 2: retried (failures are never cached)
    assert standin.calls == 8
    assert _run(env, standin).success  # past max_attempts: exhausted, no call

    assert standin.calls == 8
    extractions = store.read_stage("extractions", [DAY]).set_index("source_file")
    assert set(extractions.loc[["scan-0.pdf", "photo.png"], "error_code"]) == {"exhausted"}
    incidents = [
        i for i in store.list_incidents(limit=100) if i["primary_flag"] == "EXTRACTION_FAILED"
    ]
    assert len(incidents) == 4
    queue = store.inbox_files([DAY]).set_index("file_name")
    assert queue.loc["scan-0.pdf", "status"] == "failed"
    assert queue.loc["scan-0.pdf", "attempts"] == 3
