"""``invoice-ops`` driven through click's runner, against throwaway homes."""

from __future__ import annotations

import json

import pytest

from invoice_assets.domain.summary import schema_errors
from tests.conftest import SMOKE, invoke

DAY = "2025-02-03"


def test_validate_config_passes_on_the_shipped_config(cli_env) -> None:
    code, out, _ = invoke("validate-config")
    assert code == 0
    assert out.startswith("OK:")


def test_validate_config_lists_every_violation_and_exits_two(
    cli_env,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("INVOICE_THRESHOLD__MISMATCH__ROUNDING_RATIO", "0.5")
    monkeypatch.setenv("INVOICE_THRESHOLD__QUALITY__CHECK_MIN_SCORE", "90")
    monkeypatch.setenv("INVOICE_THRESHOLD__RECOVERY__STUCK_MINUTES", "0")

    code, out, _ = invoke("validate-config", "--json")

    assert code == 2
    report = json.loads(out)
    assert report["valid"] is False
    assert {v["rule"] for v in report["violations"]} == {"I3", "I7", "I9"}


def test_a_broken_config_stops_run_with_exit_two(cli_env, monkeypatch) -> None:
    monkeypatch.setenv("INVOICE_THRESHOLD__VALIDATION__LOW_CONFIDENCE", "1.5")
    code, _, err = invoke("run", "--date", DAY)
    assert code == 2
    assert "Validation.LOW_CONFIDENCE" in err


def test_ingest_run_and_summary_answer_for_a_day(cli_env) -> None:
    files = [str(p) for p in sorted(SMOKE.glob("*_invoice.json"))]
    code, out, _ = invoke("ingest", "--date", DAY, *files)
    assert code == 0
    assert "ingested 3 file(s)" in out

    code, out, _ = invoke("run", "--date", DAY)
    assert code == 0, out

    code, out, _ = invoke("summary", "--date", DAY, "--json")
    assert code == 0
    summary = json.loads(out)
    assert schema_errors(summary) == []
    assert summary["counts"]["total_invoices"] == 3
    assert summary["counts"]["incident_count"] == 2
    code, text, _ = invoke("summary", "--date", DAY)
    assert "incidents: 2 (S1 1, S2 1" in text


def test_incidents_are_acknowledged_resolved_and_given_feedback(cli_env) -> None:
    files = [str(p) for p in sorted(SMOKE.glob("*_invoice.json"))]
    invoke("ingest", "--date", DAY, *files)
    invoke("run", "--date", DAY)
    _, out, _ = invoke("incidents", "list", "--severity", "S2", "--json")
    (s2,) = json.loads(out)
    number = str(s2["incident_id"])

    code, _, err = invoke(
        "incidents", "feedback", number, "--action", "VERIFIED_LOGIC", "--hint-correct"
    )
    assert code == 2
    assert "incident_not_resolved" in err
    assert invoke("incidents", "ack", number)[0] == 0
    assert invoke("incidents", "resolve", number)[0] == 0
    code, _, err = invoke("incidents", "ack", number)
    assert code == 2
    assert "cannot move" in err
    code, _, err = invoke("incidents", "feedback", number, "--action", "GUESS", "--hint-correct")
    assert code == 2
    assert "invalid_feedback_action" in err
    code, _, _ = invoke(
        "incidents",
        "feedback",
        number,
        "--action",
        "VERIFIED_LOGIC",
        "--hint-correct",
        "--seconds",
        "300",
    )
    assert code == 0

    _, out, _ = invoke("incidents", "show", number, "--json")
    shown = json.loads(out)
    assert shown["status"] == "RESOLVED"
    assert shown["resolution_reason"] == "manual_resolved"
    assert shown["feedback_by"].startswith("cli:")
    assert shown["feedback_json"]["resolution_time_seconds"] == 300.0
    code, out, _ = invoke("status", "--json", "--no-runs")
    assert code == 0
    assert json.loads(out)["feedback"]["coverage_7d"] == 1.0


def test_status_answers_the_five_questions_on_one_screen(cli_env) -> None:
    files = [str(p) for p in sorted(SMOKE.glob("*_invoice.json"))]
    invoke("ingest", "--date", DAY, *files)
    invoke("run", "--date", DAY)

    code, out, _ = invoke("status")

    assert code == 0
    lines = out.splitlines()
    for number, topic in enumerate(
        ["working?", "incidents", "S1 exploded?", "feedback?", "config"], 1
    ):
        assert any(line.startswith(f"{number}. {topic}") for line in lines), out
    assert "YES" in lines[0]
    assert "failed runs (last 1): 0" in lines[0]


def test_health_exits_zero_when_ready_and_two_on_a_broken_config(
    cli_env,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code, out, _ = invoke("health", "--json")
    assert code == 0
    assert json.loads(out)["status"] == "ready"

    # an invalid configuration is exit 2 for every command (README), health included
    monkeypatch.setenv("INVOICE_THRESHOLD__HEALTH__DB_ERROR_MS", "50")
    code, out, err = invoke("health")
    assert code == 2
    assert "NOT READY" in out
    assert "Health.DB_ERROR_MS" in err


def test_token_prints_a_hash_that_the_api_accepts(cli_env) -> None:
    from invoice_assets.api.settings import hash_token

    code, out, _ = invoke("token", "--name", "carol")
    assert code == 0
    value = out.splitlines()[0].rsplit(" ", 1)[-1]
    assert f"token_sha256: {hash_token(value)}" in out


def test_incidents_name_their_invoice_and_runs_name_their_trigger(cli_env) -> None:
    from pathlib import Path

    import dagster as dg

    files = [str(p) for p in sorted(SMOKE.glob("*_invoice.json"))]
    invoke("ingest", "--date", DAY, *files)
    assert invoke("run", "--date", DAY, "--operator", "ayse")[0] == 0

    _, out, _ = invoke("incidents", "list", "--json")
    rows = json.loads(out)
    assert {(r["supplier"], r["invoice_period"]) for r in rows} == {("smoke", "2025-01")}
    assert {r["invoice_no"] for r in rows} == {
        "SMOKE-s2_mismatch_invoice",
        "SMOKE-s1_ocr_suspect_invoice",
    }
    assert {r["source_file"] for r in rows} == {
        "s2_mismatch_invoice.json",
        "s1_ocr_suspect_invoice.json",
    }
    _, text, _ = invoke("incidents", "list")
    assert "smoke SMOKE-s2_mismatch_invoice 2025-01 s2_mismatch_invoice.json" in text
    instance = dg.DagsterInstance.from_config(str(Path(cli_env["INVOICE_HOME"]) / "dagster"))
    (run,) = instance.get_runs()
    assert run.tags["invoice/trigger"] == "cli"
    assert run.tags["invoice/operator"] == "ayse"


def test_run_refuses_a_day_that_is_not_a_partition(cli_env, monkeypatch) -> None:
    monkeypatch.setenv("INVOICE_PARTITIONS_START", "2025-02-01")

    for day in ("2025-01-31", "2999-01-01"):
        code, _, err = invoke("run", "--date", day)
        assert code == 2
        assert f"--date {day} is not a partition: days run from 2025-02-01" in err
    code, _, err = invoke("run", "--date", "2025-02-03", "--to", "2025-02-01")
    assert code == 2


def test_alerts_list_shows_each_alert_once(cli_env) -> None:
    from invoice_assets.domain.digest import AlertSpec
    from invoice_assets.services.settings import Settings
    from resources.alerts import AlertSink

    sink = AlertSink(store=Settings.from_env().store())
    spec = AlertSpec("CRITICAL", "S1_RATE_DRIFT", "S1 doubled", {"rate": 0.5}, day=DAY)
    sink.raise_alert(spec)
    sink.raise_alert(spec)

    code, out, _ = invoke("alerts", "list", "--json")
    assert code == 0
    (alert,) = json.loads(out)
    assert (alert["code"], alert["day"], alert["revision"]) == ("S1_RATE_DRIFT", DAY, 1)
    code, text, _ = invoke("alerts", "list", "--date", DAY)
    assert "S1_RATE_DRIFT" in text and "NOT delivered" in text
    assert invoke("alerts", "list", "--date", "2025-02-04")[1].strip() == "no alerts"


def test_a_status_change_expecting_a_status_the_incident_left_exits_one_with_conflict(
    cli_env,
) -> None:
    files = [str(p) for p in sorted(SMOKE.glob("*_invoice.json"))]
    invoke("ingest", "--date", DAY, *files)
    invoke("run", "--date", DAY)
    _, out, _ = invoke("incidents", "list", "--severity", "S2", "--json")
    number = str(json.loads(out)[0]["incident_id"])
    assert invoke("incidents", "ack", number, "--expect", "OPEN")[0] == 0

    code, _, err = invoke("incidents", "resolve", number, "--expect", "OPEN")

    assert code == 1
    assert "conflict" in err and "is ACK, not OPEN" in err
    _, out, _ = invoke("incidents", "show", number, "--json")
    shown = json.loads(out)
    assert (shown["status"], shown["resolution_reason"], shown["resolved_at"]) == (
        "ACK",
        None,
        None,
    )
    assert invoke("incidents", "resolve", number, "--expect", "ACK")[0] == 0
