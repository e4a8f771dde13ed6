"""A partition full of malformed inbox files, materialised through the real graph on both stores.

SPEC §4.1: bad input never crashes a partition; every invoice is accounted for (ok + failed =
received, per file and in total, per line for ``.jsonl``); each failure carries a machine-readable
``error_code``; implausible but well-typed values reach validation and raise flags instead.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

import dagster as dg
import pandas as pd
import pytest

from tests.assets.helpers import materialize_day, store_for
from tests.bad_input.corpus import ANY, ANY_FAILURE, KNOWN_CODES, OK, InboxFile, corpus
from tests.conftest import set_product_env, throwaway_database

DAY = "2025-05-06"


def _matches(expected: str | frozenset[str], status: str, code: str | None) -> bool:
    outcome = OK if status == "ok" else code
    if expected == ANY:
        return status == "ok" or code in KNOWN_CODES
    if expected == ANY_FAILURE:
        return status == "failed" and code in KNOWN_CODES
    if isinstance(expected, frozenset):
        return outcome in expected
    return outcome == expected


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def materialised(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[dict[str, str], list[InboxFile], dg.ExecuteInProcessResult]]:
    """The corpus in one inbox day, materialised once per backend (shared by the tests)."""
    root = tmp_path_factory.mktemp(f"bad-input-{request.param}")
    env = {"INVOICE_HOME": str(root / "home")}
    with contextlib.ExitStack() as stack:
        if request.param == "postgresql":
            env["INVOICE_DB_URL"] = stack.enter_context(throwaway_database())
        files = corpus()
        folder = root / "home" / "inbox" / DAY
        folder.mkdir(parents=True)
        for item in files:
            (folder / item.name).write_bytes(item.content)
        with pytest.MonkeyPatch.context() as mp:
            set_product_env(mp, env)
            result = materialize_day(env, DAY)
        yield env, files, result


def test_a_partition_of_malformed_files_succeeds_and_accounts_for_every_invoice(
    materialised,
) -> None:
    env, files, result = materialised

    assert result.success
    store = store_for(env)
    extractions = store.read_stage("extractions", [DAY])
    received = sum(len(f.expected) for f in files)
    assert len(extractions) == received
    failed = extractions["status"].eq("failed")
    assert int((~failed).sum()) + int(failed.sum()) == received
    assert set(extractions["status"]) <= {"ok", "failed"}
    metadata = result.asset_materializations_for_node("extractions")[0].metadata
    assert metadata["invoices_received"].value == received
    assert metadata["invoices_ok"].value == int((~failed).sum())
    assert metadata["invoices_failed"].value == int(failed.sum())

    queue = store.inbox_files([DAY]).set_index("file_name")
    assert sorted(queue.index) == sorted(f.stored_name for f in files)
    mismatches = []
    for item in files:
        rows = extractions[extractions["source_file"] == item.stored_name].copy()
        rows["order"] = rows["line_no"].fillna(0).astype(int)
        rows = rows.sort_values("order")
        outcomes = list(zip(rows["status"], rows["error_code"], strict=True))
        if len(outcomes) != len(item.expected) or not all(
            _matches(e, s, c) for e, (s, c) in zip(item.expected, outcomes, strict=False)
        ):
            mismatches.append((item.name, item.expected, outcomes))
        file_row = queue.loc[item.stored_name]
        n_failed = sum(s == "failed" for s, _ in outcomes)
        assert (file_row["items"], file_row["failed_items"]) == (len(outcomes), n_failed), item.name
        assert file_row["status"] == ("failed" if n_failed == len(outcomes) else "done"), item.name
    assert mismatches == []


def test_every_failure_is_coded_and_becomes_one_extraction_failed_incident(materialised) -> None:
    env, _, result = materialised
    assert result.success
    store = store_for(env)
    extractions = store.read_stage("extractions", [DAY])
    failures = extractions[extractions["status"] == "failed"]

    assert failures["error_code"].notna().all()
    assert set(failures["error_code"]) <= KNOWN_CODES
    assert failures["error_message"].map(lambda m: isinstance(m, str) and m != "").all()
    assert extractions["invoice_key"].is_unique
    incidents = pd.DataFrame(store.list_incidents(day=DAY, limit=10_000))
    extraction_failed = incidents[incidents["primary_flag"] == "EXTRACTION_FAILED"]
    assert len(extraction_failed) == len(failures)
    by_key = extraction_failed.set_index("invoice_key")["error_code"]
    assert by_key.loc[failures["invoice_key"]].tolist() == failures["error_code"].tolist()
    assert incidents["dedupe_key"].is_unique
    for stage in ("validations", "offers", "quality_scores"):
        rows = store.read_stage(stage, [DAY])
        assert len(rows) == len(extractions), stage
        assert rows["invoice_key"].is_unique, stage
    summary = store.load_document("run_summary", DAY)
    assert summary is not None
    assert summary["counts"]["total_invoices"] == len(extractions)


def test_implausible_but_well_typed_values_raise_validation_flags_not_failures(
    materialised,
) -> None:
    env, files, result = materialised
    assert result.success
    store = store_for(env)
    extractions = store.read_stage("extractions", [DAY]).set_index("invoice_key")
    flags = store.read_stage("flags", [DAY])
    raised = flags.groupby("invoice_key")["flag"].agg(set).to_dict()
    scores = store.read_stage("quality_scores", [DAY]).set_index("invoice_key")
    expected = {key: want for f in files for key, want in f.flags.items()}
    assert len(expected) >= 9

    for key, want in expected.items():
        assert extractions.loc[key, "status"] == "ok", key
        assert pd.isna(extractions.loc[key, "error_code"]), key
        got = raised.get(key, set())
        assert "EXTRACTION_FAILED" not in got, key
        assert want <= got, (key, got)
        score = float(scores.loc[key, "quality_score"])
        assert 0.0 <= score <= 100.0, (key, score)
    stored = json.dumps(store.list_incidents(day=DAY, limit=10_000), default=str)
    assert "NaN" not in stored and "Infinity" not in stored
