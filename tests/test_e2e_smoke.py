"""E2E smoke (seed §5.2): the seven steps through the real asset graph and store, on SQLite and
PostgreSQL; and ``invoice-ops smoke`` as the post-deploy check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from invoice_assets.cli import main
from invoice_assets.domain.feedback import feedback_stats, validate_feedback
from invoice_assets.domain.summary import schema_errors
from invoice_assets.kernel.clock import SYSTEM_CLOCK
from invoice_assets.services.reporting import build_health_report, build_run_summary
from resources.thresholds import load_thresholds
from tests.assets.helpers import materialize_day, store_for
from tests.conftest import SMOKE, put_smoke_fixtures

utcnow = SYSTEM_CLOCK.now  # the moment these tests stamp their writes with

DAY = "2025-02-03"


def test_the_seven_smoke_steps_pass_through_the_real_graph(env, apply_env) -> None:
    # 1. setup: a clean store, the three fixtures in the inbox
    apply_env(env)
    store = store_for(env)
    store.ensure_schema()
    assert store.count_rows("incidents") == 0
    put_smoke_fixtures(Path(env["INVOICE_HOME"]) / "inbox", DAY)

    # 2. extraction, validation, pricing, quality: the whole graph for the day
    result = materialize_day(env, DAY)
    assert result.success
    checks = {
        e.event_specific_data.check_name: e.event_specific_data.passed
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }
    assert checks["smoke_fixture_expectations"] is True

    # 3. incidents: count, severity, primary flag, action hint
    expected = json.loads((SMOKE / "expected.json").read_text())
    incidents = {i["invoice_key"].split("|")[1][len("SMOKE-") :]: i for i in store.list_incidents()}
    assert set(incidents) == {n for n, e in expected.items() if e["incident_created"]}
    for name, incident in incidents.items():
        want = expected[name]
        assert incident["severity"] == want["severity"]
        assert incident["primary_flag"] == want["primary_flag"]
        for key, value in want["action_hint"].items():
            assert incident["action_hint"][key] == value
        for key, value in want["mismatch_info"].items():
            assert incident["mismatch_info"][key] == value

    # 4. system health: histogram buckets, happy path not in them, no 5xx
    t = load_thresholds()
    health = build_health_report(store, DAY, t)
    assert health["histogram"] == {"0-2%": 0, "2-5%": 0, "5-10%": 0, "10-20%": 1, "20%+": 1}
    assert sum(health["histogram"].values()) == 2  # the happy path has no mismatch
    summary = build_run_summary(store, DAY, DAY, t)
    assert summary["errors"]["total_5xx"] == 0
    assert schema_errors(summary) == []

    # 5. feedback write on the S2 incident
    s2 = incidents["s2_mismatch_invoice"]
    store.set_incident_status(s2["incident_id"], "RESOLVED", "manual_resolved", utcnow())
    feedback = validate_feedback({"action_taken": "VERIFIED_LOGIC", "was_hint_correct": True})
    after = store.put_feedback(s2["incident_id"], feedback, "smoke-test", utcnow())
    assert after is not None
    assert after["feedback_json"]["action_taken"] == "VERIFIED_LOGIC"
    assert after["updated_at"] > s2["updated_at"]

    # 6. feedback stats
    stats = feedback_stats(store.incident_frame(DAY, DAY))
    assert stats["hint_accuracy_rate"] == 1.0
    assert stats["feedback_coverage"] > 0

    # 7. all fixtures processed, the loop closed
    assert len(store.read_stage("extractions", [DAY])) == 3
    assert build_run_summary(store, DAY, DAY, t)["counts"]["feedback_count"] == 1


def test_invoice_ops_smoke_passes_on_sqlite_and_postgresql(apply_env, tmp_path: Path) -> None:
    apply_env({"INVOICE_HOME": str(tmp_path / "unused")})
    runner = CliRunner()

    sqlite = runner.invoke(main, ["smoke", "--json"], catch_exceptions=False)
    postgres = runner.invoke(
        main,
        ["smoke", "--json", "--postgres", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"],
        catch_exceptions=False,
    )

    for result in (sqlite, postgres):
        assert result.exit_code == 0, result.stdout
        report = json.loads(result.stdout)
        assert report["passed"] is True
        assert [s["step"][0] for s in report["steps"]] == list("1234567")
    assert not (tmp_path / "unused").exists()  # the smoke test never touches the real home


def test_invoice_ops_smoke_fails_when_thresholds_break_the_fixtures(
    apply_env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    apply_env({"INVOICE_HOME": str(tmp_path / "unused")})
    # Valid config, wrong business outcome: the S2 fixture (16 %, 8 000 TL) would become S1.
    monkeypatch.setenv("INVOICE_THRESHOLD__MISMATCH__SEVERE_RATIO", "0.15")

    result = CliRunner().invoke(main, ["smoke", "--json"], catch_exceptions=False)

    assert result.exit_code == 1
    report = json.loads(result.stdout)
    failed = {s["step"] for s in report["steps"] if not s["ok"]}
    assert "3 incidents" in failed
    assert report["steps"][1]["checks"]["smoke_fixture_expectations"] is False
