"""The ops API at its edges, against a real server process on both stores.

Strict ISO dates and bounded numbers (400, never 500), JSON bodies for the errors the HTTP server
itself answers (unparsable requests, oversized headers, slow clients), and the run summary cache
(served again until the store's next write, from any process).
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import httpx
import pytest

from invoice_assets.domain.feedback import MAX_RESOLUTION_SECONDS
from invoice_assets.kernel.clock import SYSTEM_CLOCK
from invoice_assets.services.reporting import build_run_summary
from resources.thresholds import load_thresholds
from tests.api.server import TOKEN, smoke_day_server
from tests.assets.helpers import materialize_day, store_for
from tests.conftest import set_product_env

DAY = "2025-02-03"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
REQUEST_TIMEOUT_S = 2
BAD_DAYS = [
    "2025-03-10garbage",
    "2025-03-10' OR '1'='1",
    "20250310",
    "2025-02-30",
    "0001-01-01",
    "9999-12-31",
    "1999-12-31",
    "3000-01-01",
    "２０２５-03-10",
]
DATED = [
    ("/admin/run-summary", "start", {}),
    ("/admin/run-summary", "end", {"start": DAY}),
    ("/admin/system-health", "date", {}),
    ("/admin/incidents", "date", {}),
    ("/admin/feedback-stats", "start", {}),
    ("/admin/feedback-stats", "end", {}),
]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, dict[str, str]]]:
    root = tmp_path_factory.mktemp(f"edges-{request.param}")
    args = ["--request-timeout", str(REQUEST_TIMEOUT_S)]
    with smoke_day_server(request.param, root, DAY, args) as served:
        yield served


def _assert_error(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    detail = response.json()["detail"]
    assert detail["code"] == code and isinstance(detail["message"], str) and detail["message"]
    return detail


# --- finding 5: strict dates, bounded numbers ----------------------------------------------------


@pytest.mark.parametrize("value", BAD_DAYS)
@pytest.mark.parametrize(("path", "name", "others"), DATED, ids=lambda x: str(x))
def test_a_day_that_is_not_strict_iso_in_range_is_400_invalid_date(
    served, path, name, others, value
):
    base, _ = served
    params = {**others, name: value}
    response = httpx.get(f"{base}{path}", params=params, headers=AUTH, timeout=10)
    detail = _assert_error(response, 400, "invalid_date")
    assert name in detail["message"]


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/admin/run-summary", {"start": "2999-12-31"}),
        ("/admin/run-summary", {"start": "2000-01-01", "end": "2999-12-31"}),
        ("/admin/system-health", {"date": "2000-01-01"}),
        ("/admin/system-health", {"date": "2999-12-31"}),
        ("/admin/feedback-stats", {"start": "2000-01-01", "end": "2999-12-31"}),
    ],
)
def test_the_ends_of_the_accepted_range_are_answered(served, path, params):
    base, _ = served
    response = httpx.get(f"{base}{path}", params=params, headers=AUTH, timeout=30)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "seconds",
    [2**70, 10**400, MAX_RESOLUTION_SECONDS + 1, -1],
    ids=["2**70", "1e400", "max+1", "-1"],
)
def test_an_unbounded_resolution_time_is_400_invalid_feedback_data(served, seconds):
    base, _ = served
    resolved = _resolved_incident(base)
    body = json.dumps(
        {"action_taken": "ESCALATED", "was_hint_correct": True, "resolution_time_seconds": seconds}
    )
    response = httpx.patch(
        f"{base}/admin/incidents/{resolved}/feedback", content=body, headers=AUTH, timeout=10
    )
    _assert_error(response, 400, "invalid_feedback_data")


def test_a_resolution_time_at_the_bound_is_stored(served):
    base, _ = served
    resolved = _resolved_incident(base)
    body = {
        "action_taken": "ESCALATED",
        "was_hint_correct": True,
        "resolution_time_seconds": MAX_RESOLUTION_SECONDS,
    }
    response = httpx.patch(
        f"{base}/admin/incidents/{resolved}/feedback", json=body, headers=AUTH, timeout=10
    )
    assert response.status_code == 200, response.text


def _resolved_incident(base: str) -> int:
    items = httpx.get(f"{base}/admin/incidents", headers=AUTH, timeout=10).json()["items"]
    for item in items:
        if item["status"] == "RESOLVED":
            return int(item["incident_id"])
    target = int(items[0]["incident_id"])
    url = f"{base}/admin/incidents/{target}/status"
    assert httpx.post(url, json={"status": "RESOLVED"}, headers=AUTH, timeout=10).is_success
    return target


# --- finding 11: the server's own answers are JSON; slow clients time out -------------------------


def _raw(base: str, payload: bytes, timeout: float = 30.0) -> tuple[int, dict[str, str], bytes]:
    """Send bytes on a fresh connection; the status, headers and body of the answer."""
    where = urlsplit(base)
    with socket.create_connection((where.hostname, where.port), timeout=timeout) as sock:
        with contextlib.suppress(ConnectionResetError, BrokenPipeError):
            sock.sendall(payload)
        return _read_answer(sock)


def _read_answer(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    data = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    match = re.match(r"HTTP/1\.1 (\d{3}) ", lines[0])
    assert match, data[:200]
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(match.group(1)), {k.lower(): v for k, v in headers.items()}, body


def _assert_json_error(answer: tuple[int, dict[str, str], bytes], status: int, code: str) -> None:
    got, headers, body = answer
    assert got == status, body[:200]
    assert headers["content-type"] == "application/json"
    detail = json.loads(body)["detail"]
    assert detail["code"] == code and detail["message"]


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        (
            b"GET /health?" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
            400,
            "invalid_http_request",
        ),
        (
            b"PATCH /admin/incidents/1/feedback HTTP/1.1\r\nHost: x\r\n"
            b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
            400,
            "invalid_http_request",
        ),
        (b"NOT HTTP AT ALL\r\n\r\n", 400, "invalid_http_request"),
        (
            b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 200_000 + b"\r\n\r\n",
            431,
            "request_header_too_large",
        ),
    ],
    ids=["70kB-url", "bad-chunked-body", "not-http", "200kB-header"],
)
def test_the_servers_own_errors_carry_the_json_error_body(served, payload, status, code):
    base, _ = served
    _assert_json_error(_raw(base, payload), status, code)


def test_a_hundred_slow_clients_are_timed_out_and_the_service_stays_responsive(served):
    base, _ = served
    where = urlsplit(base)
    clients = []
    try:
        for number in range(100):
            sock = socket.create_connection((where.hostname, where.port), timeout=30)
            # a request line and half a header, never finished: a slow-drip client
            sock.sendall(f"GET /health HTTP/1.1\r\nHost: x\r\nX-Client: {number}".encode())
            clients.append(sock)
        assert httpx.get(f"{base}/health", timeout=10).status_code == 200
        # each is answered and released by its own request timeout (2 s here); before, none
        # was ever answered (the 30 s socket timeout fails the read)
        answers = [_read_answer(sock) for sock in clients]
    finally:
        for sock in clients:
            sock.close()
    for answer in answers:
        _assert_json_error(answer, 408, "request_timeout")


def test_a_slow_body_is_timed_out_and_logged_as_the_clients_error(served):
    base, _ = served
    head = (
        "PATCH /admin/incidents/1/feedback HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n"
        "Content-Length: 500\r\n\r\n{"
    ).encode()
    _assert_json_error(_raw(base, head), 408, "request_timeout")
    assert httpx.get(f"{base}/health", timeout=10).status_code == 200


def test_an_idle_connection_is_closed_quietly(served):
    base, _ = served
    where = urlsplit(base)
    with socket.create_connection((where.hostname, where.port), timeout=30) as sock:
        assert sock.recv(1024) == b""  # closed without an answer nobody asked for


# --- finding 12: the run summary cache follows every write ----------------------------------------


def _summary(base: str, **params: str) -> dict:
    response = httpx.get(f"{base}/admin/run-summary", params=params, headers=AUTH, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def _cache(base: str) -> dict[str, int]:
    text = httpx.get(f"{base}/metrics", timeout=10).text
    found = re.findall(r'invoice_run_summary_cache_total\{result="(\w+)"\} (\d+)', text)
    return {result: int(count) for result, count in found}


def _without_time(summary: dict) -> dict:
    return {k: v for k, v in summary.items() if k != "generated_at"}


def test_a_repeated_summary_is_served_from_the_cache_and_equals_a_fresh_one(served):
    base, env = served
    first = _summary(base, start=DAY)
    before = _cache(base)
    second = _summary(base, start=DAY)
    after = _cache(base)

    assert after["hit"] == before["hit"] + 1 and after["miss"] == before["miss"]
    assert _without_time(second) == _without_time(first)
    assert second["generated_at"] >= first["generated_at"]  # restamped, not replayed
    fresh = build_run_summary(store_for(env), DAY, DAY, load_thresholds(env={}))
    assert _without_time(second) == _without_time(fresh)


def test_the_summary_changes_right_after_an_api_write(served):
    base, _ = served
    before = _summary(base, start=DAY)["counts"]
    items = httpx.get(f"{base}/admin/incidents", headers=AUTH, timeout=10).json()["items"]
    target = next(i for i in items if i["status"] == "OPEN")
    url = f"{base}/admin/incidents/{target['incident_id']}/status"
    assert httpx.post(url, json={"status": "RESOLVED"}, headers=AUTH, timeout=10).is_success

    after = _summary(base, start=DAY)["counts"]

    assert after["resolved_count"] == before["resolved_count"] + 1


def test_the_summary_changes_right_after_a_write_by_another_process(served):
    base, env = served
    before = _summary(base, start=DAY)["counts"]
    store = store_for(env)  # this test process writes, the server process reads
    (target,) = [i for i in store.list_incidents(limit=100) if i["status"] == "RESOLVED"][:1]
    feedback = {
        "action_taken": "VERIFIED_LOGIC",
        "was_hint_correct": True,
        "actual_root_cause": None,
        "resolution_time_seconds": 60.0,
    }
    from invoice_assets.domain.feedback import validate_feedback

    had = target["feedback_json"] is not None
    store.put_feedback(
        target["incident_id"], validate_feedback(feedback), "carol", SYSTEM_CLOCK.now()
    )

    after = _summary(base, start=DAY)["counts"]

    assert after["feedback_count"] == before["feedback_count"] + (0 if had else 1)
    hints = _summary(base, start=DAY)["rates"]["hint_accuracy_rate"]
    assert hints == pytest.approx(
        build_run_summary(store, DAY, DAY, load_thresholds(env={}))["rates"]["hint_accuracy_rate"]
    )


def test_a_client_error_counts_in_todays_summary_right_away(served):
    base, _ = served
    today = datetime.now(ZoneInfo("Europe/Istanbul")).date().isoformat()
    before = _summary(base, start=today)["errors"]
    assert httpx.get(f"{base}/admin/incidents/424242", headers=AUTH, timeout=10).status_code == 404

    after = _summary(base, start=today)["errors"]

    assert after["by_code"].get("404", 0) == before["by_code"].get("404", 0) + 1
    assert after["total_4xx"] == before["total_4xx"] + 1


def test_a_rerun_of_the_pipeline_moves_the_cached_summary(served, tmp_path: Path):
    base, env = served
    before = _summary(base, start=DAY)["counts"]
    extra = Path(env["INVOICE_HOME"]) / "inbox" / DAY / "zz-another-broken.json"
    extra.write_text("{not json", encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        set_product_env(mp, env)
        assert materialize_day(env, DAY).success

    after = _summary(base, start=DAY)["counts"]

    assert after["total_invoices"] == before["total_invoices"] + 1
    assert after["incident_count"] == before["incident_count"] + 1
