"""The ops API over HTTP against a real server process."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from invoice_assets.domain.summary import schema_errors
from tests.api.server import OTHER_TOKEN, TOKEN, running_server, write_tokens
from tests.assets.helpers import materialize_day, store_for
from tests.conftest import put_smoke_fixtures

DAY = "2025-02-03"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    root = tmp_path_factory.mktemp("api")
    env = {
        "INVOICE_HOME": str(root / "home"),
        "INVOICE_OPS_TOKENS_FILE": str(write_tokens(root / "tokens.yaml")),
    }
    put_smoke_fixtures(root / "home" / "inbox", DAY, broken=True)
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        assert materialize_day(env, DAY).success
    with running_server(env, root / "server.log") as base:
        yield base, env


def _incident(base: str, flag: str, severity: str) -> dict:
    items = httpx.get(f"{base}/admin/incidents", headers=AUTH, timeout=10).json()["items"]
    return next(i for i in items if i["primary_flag"] == flag and i["severity"] == severity)


def _assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert detail["code"] == code
    assert isinstance(detail["message"], str) and detail["message"]


def test_health_answers_and_readiness_reports_its_checks(served) -> None:
    base, _ = served
    assert httpx.get(f"{base}/health", timeout=5).json() == {"status": "ok"}

    ready = httpx.get(f"{base}/health/ready", timeout=10)

    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert body["status"] == "ready"
    assert set(body["checks"]) == {"database", "config", "openai_api", "queue", "runs"}
    assert body["checks"]["openai_api"]["status"] == "disabled"
    assert body["checks"]["runs"]["status"] == "disabled"  # no Dagster instance under this home
    assert body["checks"]["database"]["write"] == "ok"
    assert body["failing_checks"] == []
    assert body["last_activity"]["last_incident_at"] is not None


def test_admin_endpoints_refuse_missing_and_unknown_tokens(served) -> None:
    base, _ = served
    _assert_error(httpx.get(f"{base}/admin/incidents", timeout=5), 401, "missing_token")
    _assert_error(
        httpx.get(f"{base}/admin/incidents", headers={"Authorization": "Bearer nope"}, timeout=5),
        403,
        "unknown_token",
    )
    _assert_error(
        httpx.get(f"{base}/admin/incidents", headers={"Authorization": TOKEN}, timeout=5),
        401,
        "missing_token",
    )
    assert httpx.get(f"{base}/admin/incidents", headers=AUTH, timeout=5).status_code == 200


def test_incidents_can_be_filtered_and_read(served) -> None:
    base, _ = served
    s1 = httpx.get(f"{base}/admin/incidents", params={"severity": "S1"}, headers=AUTH, timeout=5)
    assert {i["severity"] for i in s1.json()["items"]} == {"S1"}
    assert s1.json()["count"] == 2
    one = s1.json()["items"][0]
    detail = httpx.get(f"{base}/admin/incidents/{one['incident_id']}", headers=AUTH, timeout=5)
    assert detail.json()["dedupe_key"] == one["dedupe_key"]
    _assert_error(
        httpx.get(f"{base}/admin/incidents/999999", headers=AUTH, timeout=5),
        404,
        "incident_not_found",
    )
    _assert_error(
        httpx.get(f"{base}/admin/incidents", params={"severity": "S9"}, headers=AUTH, timeout=5),
        422,
        "invalid_request",
    )
    _assert_error(
        httpx.get(f"{base}/admin/incidents", params={"date": "yesterday"}, headers=AUTH, timeout=5),
        400,
        "invalid_date",
    )


def test_feedback_errors_follow_the_contract_and_submissions_replace_each_other(served) -> None:
    base, _ = served
    s2 = _incident(base, "INVOICE_TOTAL_MISMATCH", "S2")
    url = f"{base}/admin/incidents/{s2['incident_id']}/feedback"
    good = {
        "action_taken": "VERIFIED_LOGIC",
        "was_hint_correct": True,
        "resolution_time_seconds": 120,
    }

    _assert_error(
        httpx.patch(f"{base}/admin/incidents/999999/feedback", json=good, headers=AUTH, timeout=5),
        404,
        "incident_not_found",
    )
    _assert_error(
        httpx.patch(url, json=good, headers=AUTH, timeout=5), 400, "incident_not_resolved"
    )
    resolved = httpx.post(
        f"{base}/admin/incidents/{s2['incident_id']}/status",
        json={"status": "RESOLVED", "reason": "manual_resolved"},
        headers=AUTH,
        timeout=5,
    )
    assert resolved.json()["status"] == "RESOLVED"
    assert resolved.json()["resolved_at"] is not None
    _assert_error(
        httpx.patch(url, json={**good, "action_taken": "GUESSED"}, headers=AUTH, timeout=5),
        400,
        "invalid_feedback_action",
    )
    _assert_error(
        httpx.patch(url, json={"action_taken": "VERIFIED_LOGIC"}, headers=AUTH, timeout=5),
        400,
        "invalid_feedback_data",
    )
    _assert_error(
        httpx.patch(url, json={**good, "actual_root_cause": "x" * 201}, headers=AUTH, timeout=5),
        400,
        "invalid_feedback_data",
    )
    _assert_error(
        httpx.patch(url, json={**good, "resolution_time_seconds": -1}, headers=AUTH, timeout=5),
        400,
        "invalid_feedback_data",
    )
    _assert_error(
        httpx.patch(url, content=b"{not json", headers=AUTH, timeout=5),
        400,
        "invalid_feedback_data",
    )
    _assert_error(
        httpx.patch(url, json={**good, "feedback_by": "mallory"}, headers=AUTH, timeout=5),
        400,
        "invalid_feedback_data",
    )

    first = httpx.patch(url, json=good, headers=AUTH, timeout=5)
    assert first.status_code == 200
    time.sleep(0.01)  # feedback_at is server time: two submissions must differ
    second = httpx.patch(
        url,
        json={**good, "was_hint_correct": False, "actual_root_cause": "reactive energy"},
        headers={"Authorization": f"Bearer {OTHER_TOKEN}"},
        timeout=5,
    )

    assert second.status_code == 200
    body = second.json()
    assert body["feedback_by"] == "bob"
    assert body["feedback_json"]["was_hint_correct"] is False
    assert body["feedback_json"]["actual_root_cause"] == "reactive energy"
    assert body["feedback_at"] > first.json()["feedback_at"]
    stats = httpx.get(f"{base}/admin/feedback-stats", headers=AUTH, timeout=5).json()
    assert stats["feedback_count"] == 1
    assert stats["feedback_coverage"] == 1.0
    assert stats["hint_accuracy_rate"] == 0.0


def test_a_resolved_incident_cannot_be_acknowledged(served) -> None:
    base, _ = served
    failed = _incident(base, "EXTRACTION_FAILED", "S1")
    url = f"{base}/admin/incidents/{failed['incident_id']}/status"
    assert httpx.post(url, json={"status": "RESOLVED"}, headers=AUTH, timeout=5).status_code == 200
    _assert_error(
        httpx.post(url, json={"status": "ACK"}, headers=AUTH, timeout=5),
        409,
        "invalid_status_transition",
    )
    _assert_error(
        httpx.post(url, json={"status": "OPEN"}, headers=AUTH, timeout=5), 422, "invalid_request"
    )


def test_the_run_summary_validates_against_the_seed_schema_and_counts_requests(served) -> None:
    base, _ = served
    httpx.get(f"{base}/admin/incidents/424242", headers=AUTH, timeout=5)

    summary = httpx.get(
        f"{base}/admin/run-summary", params={"start": DAY}, headers=AUTH, timeout=10
    )

    assert summary.status_code == 200
    assert schema_errors(summary.json()) == []
    assert summary.json()["counts"]["total_invoices"] == 4
    assert summary.json()["counts"]["incident_count"] == 3
    # ops API requests are counted by the wall-clock window; the day is in the past,
    # so a window covering today sees them. Today is the inbox day: Istanbul's (from 21:00 UTC
    # on, UTC's date is already yesterday there).
    today = datetime.now(ZoneInfo("Europe/Istanbul")).date().isoformat()
    now = httpx.get(f"{base}/admin/run-summary", params={"start": today}, headers=AUTH, timeout=10)
    assert now.json()["errors"]["by_code"].get("404", 0) >= 1
    assert now.json()["errors"]["total_4xx"] >= 1
    _assert_error(
        httpx.get(
            f"{base}/admin/run-summary",
            params={"start": DAY, "end": "2025-01-01"},
            headers=AUTH,
            timeout=5,
        ),
        400,
        "invalid_window",
    )


def test_system_health_and_metrics_are_served(served) -> None:
    base, _ = served
    report = httpx.get(
        f"{base}/admin/system-health", params={"date": DAY}, headers=AUTH, timeout=10
    )
    assert report.json()["histogram"] == {"0-2%": 0, "2-5%": 0, "5-10%": 0, "10-20%": 1, "20%+": 1}

    metrics = httpx.get(f"{base}/metrics", timeout=10)

    assert metrics.status_code == 200
    assert "invoice_invoices_total 4" in metrics.text
    assert 'invoice_incidents{severity="S1"' in metrics.text
    assert "invoice_queue_depth 0" in metrics.text
    assert "invoice_http_requests_total{" in metrics.text


def test_an_openapi_document_is_served_and_secrets_stay_out_of_responses(served) -> None:
    base, env = served
    spec = httpx.get(f"{base}/openapi.json", timeout=5).json()
    assert "/admin/incidents/{incident_id}/feedback" in spec["paths"]
    for path in ("/health/ready", "/metrics", "/openapi.json"):
        assert TOKEN not in httpx.get(f"{base}{path}", timeout=10).text
    stored = json.dumps(store_for(env).list_incidents(limit=100), default=str)
    assert TOKEN not in stored and OTHER_TOKEN not in stored


def test_readiness_turns_503_when_the_config_on_disk_breaks(tmp_path: Path) -> None:
    thresholds = tmp_path / "thresholds.yaml"
    original = (Path(__file__).resolve().parents[2] / "config" / "thresholds.yaml").read_text()
    thresholds.write_text(original, encoding="utf-8")
    env = {"INVOICE_HOME": str(tmp_path / "home"), "INVOICE_THRESHOLDS_FILE": str(thresholds)}
    with running_server(env, tmp_path / "server.log") as base:
        assert httpx.get(f"{base}/health/ready", timeout=10).status_code == 200
        thresholds.write_text(original.replace("SEVERE_RATIO: 0.20", "SEVERE_RATIO: 0.01"))

        ready = httpx.get(f"{base}/health/ready", timeout=10)

    assert ready.status_code == 503
    assert ready.json()["failing_checks"] == ["config"]
    assert any("I1" in v for v in ready.json()["checks"]["config"]["violations"])


def test_readiness_turns_503_quickly_when_the_database_goes_away(
    tmp_path: Path, pg_url: str
) -> None:
    import psycopg2

    name = pg_url.rsplit("/", 1)[-1]
    env = {"INVOICE_HOME": str(tmp_path / "home"), "INVOICE_DB_URL": pg_url}
    with running_server(env, tmp_path / "server.log") as base:
        assert httpx.get(f"{base}/health/ready", timeout=10).status_code == 200
        admin = psycopg2.connect("dbname=postgres user=postgres host=127.0.0.1")
        admin.autocommit = True
        with admin.cursor() as cursor:
            cursor.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
            )
        try:
            started = time.monotonic()
            ready = httpx.get(f"{base}/health/ready", timeout=10)
            elapsed = time.monotonic() - started
        finally:
            with admin.cursor() as cursor:
                cursor.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            admin.close()

    assert ready.status_code == 503
    assert "database" in ready.json()["failing_checks"]
    assert pg_url.split("@")[0] not in ready.text  # no credentials in the answer
    assert elapsed < 5.0  # bounded by the per-check timeout, not by the database


def test_readiness_turns_503_when_the_queue_is_stuck(tmp_path: Path) -> None:
    from datetime import timedelta

    from sqlalchemy import update

    from invoice_assets.kernel.clock import SYSTEM_CLOCK
    from resources.store import InboxEntry
    from resources.store import schema as store_schema

    env = {"INVOICE_HOME": str(tmp_path / "home")}
    store = store_for(env)
    store.ensure_schema()
    store.register_inbox(DAY, [InboxEntry("a.json", "/nowhere/a.json", "0" * 64, 10)])
    with store.engine.begin() as conn:
        conn.execute(
            update(store_schema.inbox_files).values(
                updated_at=SYSTEM_CLOCK.now() - timedelta(minutes=30)
            )
        )
    with running_server(env, tmp_path / "server.log") as base:
        ready = httpx.get(f"{base}/health/ready", timeout=10)

    assert ready.status_code == 503
    assert ready.json()["failing_checks"] == ["queue"]
    assert ready.json()["checks"]["queue"]["stuck"] is True
    assert ready.json()["checks"]["queue"]["depth"] == 1


def test_readiness_answers_are_reused_for_the_cache_interval(tmp_path: Path) -> None:
    thresholds = tmp_path / "thresholds.yaml"
    original = (Path(__file__).resolve().parents[2] / "config" / "thresholds.yaml").read_text()
    thresholds.write_text(original, encoding="utf-8")
    env = {"INVOICE_HOME": str(tmp_path / "home"), "INVOICE_THRESHOLDS_FILE": str(thresholds)}
    with running_server(env, tmp_path / "server.log", cache_seconds=60) as base:
        assert httpx.get(f"{base}/health/ready", timeout=10).status_code == 200
        thresholds.write_text(original.replace("SEVERE_RATIO: 0.20", "SEVERE_RATIO: 0.01"))

        cached = httpx.get(f"{base}/health/ready", timeout=10)

    assert cached.status_code == 200  # within the interval the previous answer stands
