"""The asset graph materialised in-process on SQLite and on PostgreSQL (same bodies)."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest

from invoice_assets.definitions import build_resources
from invoice_assets.domain.feedback import validate_feedback
from invoice_assets.domain.summary import schema_errors
from invoice_assets.kernel.clock import SYSTEM_CLOCK
from resources.extractor import InboxExtractor
from tests.assets.helpers import graph_assets, materialize_day, store_for
from tests.conftest import put_smoke_fixtures

DAY = "2025-02-03"


@pytest.fixture
def ready_env(env: dict[str, str], apply_env) -> dict[str, str]:
    apply_env(env)
    put_smoke_fixtures(Path(env["INVOICE_HOME"]) / "inbox", DAY, broken=True)
    return env


def _incidents_by_flag(env: dict[str, str]) -> dict[str, dict]:
    return {
        f"{i['primary_flag']}:{i['severity']}": i for i in store_for(env).list_incidents(limit=100)
    }


def test_the_whole_graph_materialises_a_partition_with_the_smoke_expectations(ready_env) -> None:
    result = materialize_day(ready_env, DAY)

    assert result.success
    materialised = {
        e.materialization.asset_key.to_user_string()
        for e in result.get_asset_materialization_events()
    }
    assert materialised == {
        "extractions",
        "validated_invoices",
        "offers",
        "quality_scores",
        "incidents",
        "run_summary",
        "system_health_report",
    }
    incidents = _incidents_by_flag(ready_env)
    assert set(incidents) == {
        "INVOICE_TOTAL_MISMATCH:S2",
        "INVOICE_TOTAL_MISMATCH:S1",
        "EXTRACTION_FAILED:S1",
    }
    s2 = incidents["INVOICE_TOTAL_MISMATCH:S2"]
    assert s2["action_hint"]["action_class"] == "VERIFY_INVOICE_LOGIC"
    assert s2["mismatch_info"]["delta"] == 8000.0
    s1 = incidents["INVOICE_TOTAL_MISMATCH:S1"]
    assert s1["action_hint"]["primary_suspect"] == "OCR_LOCALE_SUSPECT"
    assert s1["mismatch_info"]["suspect_reason"] == "OCR_LOCALE_SUSPECT"
    assert incidents["EXTRACTION_FAILED:S1"]["error_code"] == "invalid_json"


def test_a_malformed_file_fails_alone_and_every_invoice_is_accounted_for(ready_env) -> None:
    materialize_day(ready_env, DAY)
    store = store_for(ready_env)

    extractions = store.read_stage("extractions", [DAY])
    assert len(extractions) == 4
    assert extractions["status"].value_counts().to_dict() == {"ok": 3, "failed": 1}
    queue = store.inbox_files([DAY]).set_index("file_name")["status"].to_dict()
    assert queue == {
        "happy_path_invoice.json": "done",
        "s1_ocr_suspect_invoice.json": "done",
        "s2_mismatch_invoice.json": "done",
        "zz-truncated.json": "failed",
    }
    for stage in ("validations", "offers", "quality_scores"):
        assert len(store.read_stage(stage, [DAY])) == 4


def test_the_stored_run_summary_validates_against_the_seed_schema(ready_env) -> None:
    materialize_day(ready_env, DAY)
    summary = store_for(ready_env).load_document("run_summary", DAY)

    assert summary is not None
    assert schema_errors(summary) == []
    assert summary["counts"]["total_invoices"] == 4
    assert summary["counts"]["incident_count"] == 3
    assert summary["counts"]["s1_count"] == 2
    assert summary["errors"]["total_5xx"] == 0
    report = store_for(ready_env).load_document("system_health_report", DAY)
    assert report is not None
    assert report["histogram"] == {"0-2%": 0, "2-5%": 0, "5-10%": 0, "10-20%": 1, "20%+": 1}


def test_a_rerun_gives_the_same_rows_and_keeps_operator_work(ready_env) -> None:
    materialize_day(ready_env, DAY)
    store = store_for(ready_env)
    before = {
        name: store.read_stage(name, [DAY]).sort_values("invoice_key").reset_index(drop=True)
        for name in ("validations", "offers", "quality_scores", "flags")
    }
    s2 = _incidents_by_flag(ready_env)["INVOICE_TOTAL_MISMATCH:S2"]
    store.set_incident_status(s2["incident_id"], "RESOLVED", "manual_resolved", SYSTEM_CLOCK.now())
    feedback = validate_feedback({"action_taken": "VERIFIED_LOGIC", "was_hint_correct": True})
    store.put_feedback(s2["incident_id"], feedback, "alice", SYSTEM_CLOCK.now())

    assert materialize_day(ready_env, DAY).success

    for name, frame in before.items():
        after = store.read_stage(name, [DAY]).sort_values("invoice_key").reset_index(drop=True)
        assert after.drop(columns=[], errors="ignore").equals(frame), name
    incidents = _incidents_by_flag(ready_env)
    assert len(store.list_incidents(limit=100)) == 3
    kept = incidents["INVOICE_TOTAL_MISMATCH:S2"]
    assert kept["incident_id"] == s2["incident_id"]
    assert kept["status"] == "RESOLVED"
    assert kept["resolution_reason"] == "manual_resolved"
    assert kept["feedback_by"] == "alice"
    assert kept["feedback_json"]["action_taken"] == "VERIFIED_LOGIC"
    assert all(i["occurrence_count"] == 2 for i in incidents.values())


def test_an_incident_whose_flag_disappears_is_resolved_by_recompute(ready_env) -> None:
    materialize_day(ready_env, DAY)
    fixed = Path(ready_env["INVOICE_HOME"]) / "inbox" / DAY / "s2_mismatch_invoice.json"
    record = json.loads(fixed.read_text(encoding="utf-8"))
    record["extraction"]["invoice_total_with_vat_tl"]["value"] = 42000
    fixed.write_text(json.dumps(record), encoding="utf-8")

    assert materialize_day(ready_env, DAY).success

    incidents = _incidents_by_flag(ready_env)
    gone = incidents["INVOICE_TOTAL_MISMATCH:S2"]
    assert gone["status"] == "RESOLVED"
    assert gone["resolution_reason"] == "recompute_resolved"
    assert incidents["INVOICE_TOTAL_MISMATCH:S1"]["status"] == "OPEN"


def test_identical_broken_files_and_duplicate_invoices_are_each_accounted_for(ready_env) -> None:
    folder = Path(ready_env["INVOICE_HOME"]) / "inbox" / DAY
    for name in ("empty-1.json", "empty-2.json"):
        (folder / name).write_bytes(b"")
    for name in ("zz-copy-1.json", "zz-copy-2.json"):
        (folder / name).write_text('{"schema_version": 1, "invoice": {"supplier": "x"', "utf-8")
    duplicate = (folder / "s2_mismatch_invoice.json").read_bytes()
    (folder / "zz-s2-again.json").write_bytes(duplicate)
    (folder / "zz-s2-third.json").write_bytes(duplicate)

    assert materialize_day(ready_env, DAY).success

    extractions = store_for(ready_env).read_stage("extractions", [DAY])
    assert len(extractions) == 10
    assert extractions["invoice_key"].is_unique
    codes = extractions["error_code"].value_counts().to_dict()
    assert codes == {"invalid_json": 3, "empty_file": 2, "duplicate_invoice": 2}
    failed = [
        i
        for i in store_for(ready_env).list_incidents(limit=100)
        if i["primary_flag"] == "EXTRACTION_FAILED"
    ]
    assert len(failed) == 7


def test_extracting_file_by_file_gives_the_same_rows_as_one_batch(ready_env) -> None:
    folder = Path(ready_env["INVOICE_HOME"]) / "inbox" / DAY
    duplicate = (folder / "s2_mismatch_invoice.json").read_bytes()
    (folder / "zz-s2-again.json").write_bytes(duplicate)  # a duplicate in a later batch
    store = store_for(ready_env)
    kept = ["invoice_key", "source_file", "status", "error_code", "consumption_kwh"]

    def extracted(batch_bytes: int) -> tuple[list[tuple], dict[str, str]]:
        extractor = InboxExtractor(batch_bytes=batch_bytes)
        resources = {**build_resources(ready_env), "extractor": extractor}
        result = dg.materialize(
            [a for a in graph_assets() if a.key == dg.AssetKey("extractions")],
            partition_key=DAY,
            resources=resources,
            instance=dg.DagsterInstance.ephemeral(),
        )
        assert result.success
        rows = store.read_stage("extractions", [DAY]).sort_values("invoice_key")[kept]
        queue = store.inbox_files([DAY]).set_index("file_name")["status"].to_dict()
        return list(rows.astype(object).where(rows.notna(), None).itertuples(index=False)), queue

    one_batch, file_by_file = extracted(1 << 30), extracted(1)
    assert file_by_file == one_batch
    rows, queue = file_by_file
    assert len(rows) == 5
    assert [r.error_code for r in rows].count("duplicate_invoice") == 1
    assert queue["zz-s2-again.json"] == "failed"
