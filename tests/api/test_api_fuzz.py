"""Fuzzing the admin endpoints of a served API from its own OpenAPI document (both stores).

For every admin operation in ``GET /openapi.json`` of a real server process, hypothesis generates
path ids, query parameters and JSON bodies (schema-valid values mixed with injection strings, very
long and unicode strings, negative and huge numbers, random JSON) and sends them with a valid
token. No answer may be a 5xx, every error must carry ``{"detail": {"code", "message"}}``, and the
injection strings must stay inert: the incidents table keeps its rows and feedback text comes back
verbatim.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from resources.store import schema as s
from tests.api.server import TOKEN, smoke_day_server
from tests.assets.helpers import store_for

DAY = "2025-02-03"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
FUZZ = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
INJECTIONS = (
    "' OR 1=1 --",
    '"; DROP TABLE incidents; --',
    "1; DELETE FROM incidents",
    "') UNION SELECT token_sha256 FROM operators --",
    "../../etc/passwd",
    "..%2F..%2Fetc%2Fpasswd",
    "%00",
    "\x00",
    "${jndi:ldap://127.0.0.1/x}",
    "{{7*7}}",
    "<script>alert(1)</script>",
    "2025-02-03' OR '1'='1",
    "İıŞşĞğÜüÖöÇç ⚡ \u202e שלום 🤖",
    "\ud800",
    "A" * 5_000,
)
FEEDBACK_ACTIONS = (
    "VERIFIED_OCR",
    "VERIFIED_LOGIC",
    "ACCEPTED_ROUNDING",
    "ESCALATED",
    "NO_ACTION_REQUIRED",
)
HUGE = (2**31, 2**63 - 1, 2**63, 2**64, 2**70, 10**30, 10**400, -(2**63) - 1)
# Days at and past the ends of the calendar and of the accepted range, and near-days that a
# prefix read (value[:10]) or a lenient parser would take for one (all once answered 200 or 500).
DAYS = (
    "0001-01-01",
    "9999-12-31",
    "2000-01-01",
    "2999-12-31",
    "1999-12-31",
    "3000-01-01",
    "2025-03-10garbage",
    "2025-03-10' OR '1'='1",
    "20250310",
    "2025-02-29",
    "2024-02-29",
    "２０２５-03-10",
    "٢٠٢٥-٠٣-١٠",
    "2025-03-10T00:00:00",
    "2025-W10-1",
)

texts = st.one_of(st.text(max_size=40), st.sampled_from(INJECTIONS))
numbers = st.one_of(
    st.integers(),
    st.sampled_from(HUGE),
    st.floats(allow_nan=False, allow_infinity=False),
)
json_values = st.recursive(
    st.none() | st.booleans() | numbers | texts,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)


def _schema_values(schema: dict[str, Any], components: dict[str, Any]) -> st.SearchStrategy:
    """Values for one schema: the valid ones it describes, mixed with junk of every type."""
    if "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[-1]]
    if "anyOf" in schema:
        return st.one_of([_schema_values(option, components) for option in schema["anyOf"]])
    kind = schema.get("type")
    if "enum" in schema:
        valid: st.SearchStrategy = st.sampled_from(schema["enum"])
    elif kind == "integer":
        valid = st.integers(schema.get("minimum"), schema.get("maximum"))
    elif kind == "object":
        properties = schema.get("properties", {})
        valid = st.fixed_dictionaries(
            {
                k: _schema_values(v, components)
                for k, v in properties.items()
                if k in schema.get("required", [])
            },
            optional={
                k: _schema_values(v, components)
                for k, v in properties.items()
                if k not in schema.get("required", [])
            },
        )
    elif kind == "string":
        valid = st.one_of(st.sampled_from([DAY, "2025-01-01", "2026-12-31", *DAYS]), texts)
    elif kind == "null":
        return st.none()
    else:
        valid = json_values
    return st.one_of(valid, valid, json_values)


def _feedback_bodies() -> st.SearchStrategy:
    """Feedback bodies: the known keys with right and wrong types, sometimes a spoofed author."""
    return st.one_of(
        json_values,
        st.fixed_dictionaries(
            {},
            optional={
                "action_taken": st.one_of(st.sampled_from(FEEDBACK_ACTIONS), json_values),
                "was_hint_correct": st.one_of(st.booleans(), json_values),
                "actual_root_cause": st.one_of(texts, json_values),
                "resolution_time_seconds": st.one_of(numbers, json_values),
                "feedback_by": texts,
            },
        ),
        st.fixed_dictionaries(
            {
                "action_taken": st.sampled_from(FEEDBACK_ACTIONS),
                "was_hint_correct": st.booleans(),
                "actual_root_cause": st.one_of(st.none(), texts),
                "resolution_time_seconds": st.one_of(st.none(), numbers),
            }
        ),
    )


def _assert_contract(response: httpx.Response) -> None:
    where = f"{response.request.method} {response.request.url} -> {response.status_code}"
    assert response.status_code < 500, f"{where}: {response.text[:500]}"
    if response.status_code >= 400:
        detail = response.json()["detail"]
        assert isinstance(detail["code"], str) and detail["code"], where
        assert isinstance(detail["message"], str), where


def _request(
    client: httpx.Client, method: str, path: str, incident_id: Any, query: dict[str, str], body: Any
) -> httpx.Response:
    """One request; path and query are percent-encoded here (lone surrogates pass as UTF-8)."""
    segment = quote(str(incident_id).encode("utf-8", "surrogatepass"), safe="")
    url = path.replace("{incident_id}", segment)
    if query:
        url += "?" + urlencode(query, quote_via=quote, encoding="utf-8", errors="surrogatepass")
    if method in ("POST", "PATCH", "PUT"):
        content = json.dumps(body).encode("ascii")  # non-ASCII (and surrogates) as \u escapes
        headers = {"Content-Type": "application/json"}
        return client.request(method, url, content=content, headers=headers)
    return client.request(method, url)


def _fuzz_operation(
    client: httpx.Client,
    method: str,
    path: str,
    ids: st.SearchStrategy,
    queries: st.SearchStrategy,
    bodies: st.SearchStrategy,
    resolved: int,
    open_id: int,
) -> None:
    """Hypothesis over one operation, with the inputs that once broke it as explicit examples."""

    @FUZZ
    @given(incident_id=ids, query=queries, body=bodies)
    @example(incident_id=2**63, query={}, body=None)
    @example(incident_id=10**30, query={}, body=None)
    @example(incident_id=-1, query={"limit": "0", "date": "\x00"}, body=None)
    @example(incident_id=open_id, query={"start": "9999-12-31"}, body=None)
    @example(incident_id=open_id, query={"start": "0001-01-01", "end": "9999-12-31"}, body=None)
    @example(incident_id=open_id, query={"date": "0001-01-01"}, body=None)
    @example(incident_id=open_id, query={"date": "9999-12-31"}, body=None)
    @example(incident_id=open_id, query={"start": "2000-01-01", "end": "2999-12-31"}, body=None)
    @example(incident_id=open_id, query={}, body={"status": "RESOLVED", "reason": "x" * 65})
    @example(incident_id=open_id, query={}, body={"status": "RESOLVED", "reason": "a\x00b"})
    @example(
        incident_id=resolved,
        query={},
        body={
            "action_taken": "ESCALATED",
            "was_hint_correct": True,
            "resolution_time_seconds": 10**400,
        },
    )
    @example(
        incident_id=resolved,
        query={},
        body={"action_taken": "ESCALATED", "was_hint_correct": True, "actual_root_cause": "\x00"},
    )
    @example(  # a lone surrogate (valid JSON escape, not storable UTF-8) once gave a 500
        incident_id=resolved,
        query={},
        body={
            "action_taken": "VERIFIED_OCR",
            "was_hint_correct": False,
            "actual_root_cause": "\ud800",
        },
    )
    def fuzz(incident_id: Any, query: dict[str, str], body: Any) -> None:
        _assert_contract(_request(client, method, path, incident_id, query, body))

    fuzz()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, dict[str, str]]]:
    root = tmp_path_factory.mktemp(f"fuzz-{request.param}")
    with smoke_day_server(request.param, root, DAY) as served:
        yield served


def test_fuzzed_admin_requests_never_fail_with_5xx_and_every_error_has_a_code(served) -> None:
    base, env = served
    store = store_for(env)
    spec = httpx.get(f"{base}/openapi.json", timeout=10).json()
    components = spec.get("components", {}).get("schemas", {})
    incidents_before = store.count_rows("incidents")
    untouched = ("extractions", "validations", "offers", "quality_scores", "inbox_files")
    rows_before = {name: store.count_rows(name) for name in untouched}
    ids = [i["incident_id"] for i in store.list_incidents(limit=100)]
    assert len(ids) == 3
    resolved = ids[0]
    with httpx.Client(base_url=base, headers=AUTH, timeout=20) as client:
        client.post(f"/admin/incidents/{resolved}/status", json={"status": "RESOLVED"})
        id_values = st.one_of(
            st.sampled_from(ids),
            st.sampled_from(ids),
            st.integers(),
            st.sampled_from(HUGE),
            texts,
        )
        operations = [
            (method.upper(), path, op)
            for path, ops in spec["paths"].items()
            if path.startswith("/admin")
            for method, op in ops.items()
        ]
        assert {f"{m} {p}" for m, p, _ in operations} >= {
            "GET /admin/incidents",
            "GET /admin/incidents/{incident_id}",
            "POST /admin/incidents/{incident_id}/status",
            "PATCH /admin/incidents/{incident_id}/feedback",
            "GET /admin/feedback-stats",
            "GET /admin/run-summary",
            "GET /admin/system-health",
        }
        for method, path, op in operations:
            params = op.get("parameters", [])
            query = st.fixed_dictionaries(
                {},
                optional={
                    p["name"]: _schema_values(p.get("schema", {}), components).map(
                        lambda v: v if isinstance(v, str) else json.dumps(v)
                    )
                    for p in params
                    if p["in"] == "query"
                },
            )
            body_schema = (
                op.get("requestBody", {})
                .get("content", {})
                .get("application/json", {})
                .get("schema")
            )
            if path.endswith("/feedback"):
                bodies: st.SearchStrategy = _feedback_bodies()
            elif body_schema is not None:
                bodies = _schema_values(body_schema, components)
            else:
                bodies = st.just(None)

            _fuzz_operation(client, method, path, id_values, query, bodies, resolved, ids[1])

        # raw bodies that are not JSON at all
        for content in (b"{not json", b"\xff\xfe\x00", b"NaN", b'{"a": Infinity}', b"[" * 100_000):
            for target in (
                f"/admin/incidents/{resolved}/feedback",
                f"/admin/incidents/{ids[1]}/status",
            ):
                method = "PATCH" if target.endswith("feedback") else "POST"
                _assert_contract(client.request(method, target, content=content))

    assert store.count_rows("incidents") == incidents_before
    assert len(store.list_incidents(limit=1000)) == incidents_before
    assert {name: store.count_rows(name) for name in untouched} == rows_before
    for table in s.metadata.tables:  # every table is still there
        store.count_rows(table)


@pytest.mark.parametrize(
    "cause",
    [
        '"; DROP TABLE incidents; --',
        "' OR 1=1 --",
        "Robert'); DELETE FROM incidents WHERE ('1'='1",
        'İstanbul faturası: KDV %20 \\ "alıntı" \t satır\nsonu ⚡',
    ],
)
def test_feedback_text_holding_injection_strings_is_stored_verbatim(served, cause: str) -> None:
    base, env = served
    store = store_for(env)
    before = store.count_rows("incidents")
    (incident,) = [i for i in store.list_incidents(limit=100) if i["severity"] == "S2"]
    url = f"{base}/admin/incidents/{incident['incident_id']}"
    httpx.post(f"{url}/status", json={"status": "RESOLVED"}, headers=AUTH, timeout=10)
    body = {"action_taken": "ESCALATED", "was_hint_correct": False, "actual_root_cause": cause}

    response = httpx.patch(f"{url}/feedback", json=body, headers=AUTH, timeout=10)

    assert response.status_code == 200, response.text
    assert response.json()["feedback_json"]["actual_root_cause"] == cause
    read_back = httpx.get(url, headers=AUTH, timeout=10).json()
    assert read_back["feedback_json"]["actual_root_cause"] == cause
    assert read_back["feedback_by"] == "alice"
    assert store.count_rows("incidents") == before
    stored = store.get_incident(incident["incident_id"])
    assert stored is not None and stored["feedback_json"]["actual_root_cause"] == cause
