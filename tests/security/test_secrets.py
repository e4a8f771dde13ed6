"""Secrets and authentication: who may call the admin API, and where secrets must never appear.

The secrets are recognisable strings (an OpenAI key, a database password, operator tokens, a
webhook URL path); every place an operator or an attacker can read is searched for them: server
output, error bodies, ``invoice-ops health --json``, Dagster event logs and materialisation
metadata, the repository snapshot the Dagster UI is served (resource config), alerts, and the
``repr`` of settings and resources.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
import psycopg2
import pytest
from dagster._core.remote_representation.external_data import RepositorySnap
from dagster._serdes import serialize_value

from invoice_assets.api.settings import hash_token
from invoice_assets.definitions import build_definitions, build_resources
from invoice_assets.services.settings import Settings
from invoice_assets.standin import StandIn
from resources.openai_extractor import OpenAIExtractor
from resources.store import dispose_engine
from tests.api.server import OTHER_TOKEN, TOKEN, free_port, running_server, write_tokens
from tests.assets.helpers import graph_assets, store_for
from tests.conftest import PG_ADMIN, REPO, _admin, put_smoke_fixtures, set_product_env
from tests.resources.test_openai_extractor import tiny_pdf, tiny_png

DAY = "2025-06-02"
OPENAI_SECRET = "LEAKCHECK-openai-7f3a9c2e1b5d4a60"  # not sk-shaped: only exact scrubbing hides it
DB_PASSWORD = "S3cretPw"
HOOK_SECRET = "HOOKSECRET9d8e7f"
WRONG_TOKEN = "mallory-guessed-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _secrets() -> tuple[str, ...]:
    return (OPENAI_SECRET, DB_PASSWORD, HOOK_SECRET, TOKEN, OTHER_TOKEN, WRONG_TOKEN)


def _assert_no_secret(text: str, where: str) -> None:
    found = [s for s in _secrets() if s in text]
    assert found == [], f"{where} leaks {found}"


def _with_password(url: str) -> str:
    return url.replace(
        "postgresql+psycopg2://postgres@", f"postgresql+psycopg2://postgres:{DB_PASSWORD}@"
    )


def _clean_environ() -> dict[str, str]:
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("INVOICE_", "OPENAI_")) and k != "DAGSTER_HOME"
    }


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A PostgreSQL store reached with a password (trust auth accepts it), the OpenAI stand-in
    with the secret key, a webhook URL with a secret path, and one materialised day."""
    root = tmp_path_factory.mktemp("secrets")
    database = f"invoice_test_{uuid.uuid4().hex[:12]}"
    _admin(f'CREATE DATABASE "{database}"')
    url = _with_password(f"postgresql+psycopg2://postgres@127.0.0.1:5432/{database}")
    standin = StandIn(api_key=OPENAI_SECRET)
    env = {
        "INVOICE_HOME": str(root / "home"),
        "INVOICE_DB_URL": url,
        "INVOICE_OPS_TOKENS_FILE": str(write_tokens(root / "tokens.yaml")),
        "OPENAI_API_KEY": OPENAI_SECRET,
        "OPENAI_BASE_URL": standin.base_url,
        "INVOICE_ALERT_WEBHOOK_URL": f"http://127.0.0.1:{free_port()}/services/{HOOK_SECRET}",
    }
    folder = root / "home" / "inbox" / DAY
    put_smoke_fixtures(root / "home" / "inbox", DAY, broken=True)
    for n in range(4):
        (folder / f"scan-{n}.pdf").write_bytes(tiny_pdf(f"secret-{n}"))
    (folder / "photo.png").write_bytes(tiny_png())
    (root / "dagster").mkdir()
    try:
        with pytest.MonkeyPatch.context() as mp:
            set_product_env(mp, env)
            resources = build_resources(env)
            # the production wiring (the key as an EnvVar), without client retries
            resources["openai"] = OpenAIExtractor(
                api_key=dg.EnvVar("OPENAI_API_KEY"), base_url=standin.base_url, max_retries=0
            )
            standin.unauthorized(1).server_error(1)
            with dg.DagsterInstance.local_temp(str(root / "dagster")) as instance:
                result = dg.materialize(
                    graph_assets(), partition_key=DAY, resources=resources, instance=instance
                )
                assert result.success
                events = [serialize_value(e) for e in instance.all_logs(result.run_id)]
                run = serialize_value(instance.get_run_by_id(result.run_id))
        yield {"root": root, "env": env, "url": url, "events": events, "run": run}
    finally:
        standin.stop()
        dispose_engine(url)
        _admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


# -- authentication -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def served(deployment: dict[str, Any]) -> Iterator[tuple[str, Path]]:
    log = deployment["root"] / "server.log"
    with running_server(deployment["env"], log) as base:
        yield base, log


def _admin_operations(base: str) -> list[tuple[str, str]]:
    spec = httpx.get(f"{base}/openapi.json", timeout=10).json()
    out = []
    for path, operations in spec["paths"].items():
        if path.startswith("/admin"):
            for method in operations:
                out.append((method.upper(), path.replace("{incident_id}", "1")))
    return out


def _error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, (response.request.url, response.text)
    detail = response.json()["detail"]
    assert detail["code"] == code
    assert isinstance(detail["message"], str) and detail["message"]


@pytest.mark.parametrize(
    ("header", "status", "code"),
    [
        (None, 401, "missing_token"),
        ("", 401, "missing_token"),
        ("Bearer", 401, "missing_token"),
        (f"Basic {TOKEN}", 401, "missing_token"),
        (TOKEN, 401, "missing_token"),
        (f"Token {TOKEN}", 401, "missing_token"),
        (f"Bearer {WRONG_TOKEN}", 403, "unknown_token"),
        (f"Bearer {hash_token(TOKEN)}", 403, "unknown_token"),  # the stored hash is not a token
        (f"Bearer {TOKEN}x", 403, "unknown_token"),
        (f"Bearer {TOKEN[:-1]}", 403, "unknown_token"),
        (f"Bearer {TOKEN} {TOKEN}", 403, "unknown_token"),
        (f"Bearer {'A' * 10_000}", 403, "unknown_token"),
    ],
)
def test_admin_endpoints_refuse_missing_unknown_and_malformed_tokens(
    served, header: str | None, status: int, code: str
) -> None:
    base, _ = served
    headers = {} if header is None else {"Authorization": header}
    operations = _admin_operations(base)
    assert len(operations) >= 7
    for method, path in operations:
        response = httpx.request(method, f"{base}{path}", headers=headers, json={}, timeout=10)
        _error(response, status, code)
        if status == 401:
            assert response.headers["www-authenticate"] == "Bearer"
        _assert_no_secret(response.text, f"{method} {path}")


def test_feedback_by_comes_from_the_token_and_cannot_be_spoofed(served, deployment) -> None:
    base, _ = served
    store = store_for(deployment["env"])
    (incident,) = [
        i
        for i in store.list_incidents(limit=100)
        if i["invoice_key"] == "smoke|SMOKE-s2_mismatch_invoice|2025-01"
    ]
    url = f"{base}/admin/incidents/{incident['incident_id']}"
    httpx.post(f"{url}/status", json={"status": "RESOLVED"}, headers=AUTH, timeout=10)
    good = {"action_taken": "VERIFIED_LOGIC", "was_hint_correct": True}
    assert httpx.patch(f"{url}/feedback", json=good, headers=AUTH, timeout=10).status_code == 200

    for spoof in (
        {"feedback_by": "mallory"},
        {"feedback_by": "bob"},
        {"feedback_at": "2000-01-01"},
    ):
        response = httpx.patch(f"{url}/feedback", json=good | spoof, headers=AUTH, timeout=10)
        _error(response, 400, "invalid_feedback_data")
    spoofed_header = {"X-Operator": "mallory", "X-Forwarded-User": "mallory"}
    response = httpx.patch(f"{url}/feedback", json=good, headers=AUTH | spoofed_header, timeout=10)
    assert response.json()["feedback_by"] == "alice"

    stored = store.get_incident(incident["incident_id"])
    assert stored is not None
    assert stored["feedback_by"] == "alice"
    assert stored["feedback_json"]["feedback_by"] == "alice"
    _assert_no_secret(json.dumps(stored, default=str), "stored incident")


# -- where secrets must never appear --------------------------------------------------------------
def test_server_output_error_bodies_and_readiness_never_show_a_secret(served, deployment) -> None:
    base, log = served
    bodies = [httpx.get(f"{base}{p}", timeout=10).text for p in ("/health/ready", "/metrics")]
    for headers in ({"Authorization": f"Bearer {WRONG_TOKEN}"}, AUTH):
        for method, path in _admin_operations(base):
            response = httpx.request(method, f"{base}{path}", headers=headers, timeout=10)
            bodies.append(response.text)
    bodies.append(httpx.get(f"{base}/admin/incidents/999999", headers=AUTH, timeout=10).text)

    # the database goes away: readiness reports the failure without the URL's password
    name = deployment["url"].rsplit("/", 1)[-1]
    admin = psycopg2.connect(PG_ADMIN)
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
            )
        ready = httpx.get(f"{base}/health/ready", timeout=15)
        assert ready.status_code == 503
        assert "database" in ready.json()["failing_checks"]
        bodies.append(ready.text)
        bodies.append(httpx.get(f"{base}/admin/incidents", headers=AUTH, timeout=15).text)
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        admin.close()
    dispose_engine(deployment["url"])

    for body in bodies:
        _assert_no_secret(body, "a response body")
    output = log.read_text(errors="replace")
    assert output  # the server did write something (startup lines at least)
    _assert_no_secret(output, "the server's output")


def test_the_cli_and_a_server_that_cannot_reach_the_database_do_not_print_its_password(
    tmp_path: Path,
) -> None:
    env = _clean_environ() | {
        "INVOICE_HOME": str(tmp_path / "home"),
        "INVOICE_DB_URL": f"postgresql+psycopg2://postgres:{DB_PASSWORD}@127.0.0.1:1/x",
        "OPENAI_API_KEY": OPENAI_SECRET,
        "OPENAI_BASE_URL": f"http://127.0.0.1:{free_port()}/v1",
    }
    health = subprocess.run(
        [sys.executable, "-m", "invoice_assets.cli", "health", "--json", "--timeout", "3"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert health.returncode == 1, health.stderr
    report = json.loads(health.stdout)
    assert {"database", "openai_api"} <= set(report["failing_checks"])
    _assert_no_secret(health.stdout + health.stderr, "invoice-ops health --json")

    serve = subprocess.run(
        [sys.executable, "-m", "invoice_assets.cli", "serve", "--port", str(free_port())],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert serve.returncode != 0
    _assert_no_secret(serve.stdout + serve.stderr, "invoice-ops serve refusing to start")


def test_dagster_event_logs_run_records_and_metadata_never_show_a_secret(deployment) -> None:
    events = deployment["events"]
    text = "\n".join(events)
    # positive controls: the log holds the run's story, failures included
    assert "ASSET_MATERIALIZATION" in text
    assert "auth_error" in text and "server_error" in text
    _assert_no_secret(text, "the Dagster event log")
    _assert_no_secret(deployment["run"], "the Dagster run record (run config, tags)")
    store = store_for(deployment["env"])
    extractions = store.read_stage("extractions", [DAY])
    assert {"auth_error", "server_error"} <= set(extractions["error_code"].dropna())
    _assert_no_secret(extractions.to_json(), "stored extractions")
    _assert_no_secret(json.dumps(store.list_incidents(limit=1000), default=str), "incidents")


def test_a_failed_run_against_a_password_protected_database_does_not_log_the_password(
    tmp_path: Path, apply_env
) -> None:
    env = apply_env(
        {
            "INVOICE_HOME": str(tmp_path / "home"),
            "INVOICE_DB_URL": f"postgresql+psycopg2://postgres:{DB_PASSWORD}@127.0.0.1:1/x",
        }
    )
    put_smoke_fixtures(tmp_path / "home" / "inbox", DAY)
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        graph_assets(),
        partition_key=DAY,
        resources=build_resources(env),
        instance=instance,
        raise_on_error=False,
    )
    assert not result.success
    text = "\n".join(serialize_value(e) for e in instance.all_logs(result.run_id))
    assert "STEP_FAILURE" in text and "OperationalError" in text
    _assert_no_secret(text, "the failed run's event log")


def test_the_resource_config_the_dagster_ui_is_served_holds_env_var_names_not_values(
    deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in deployment["env"].items():
        monkeypatch.setenv(key, value)
    defs = build_definitions(deployment["env"])

    snapshot = RepositorySnap.from_def(defs.get_repository_def())

    _assert_no_secret(serialize_value(snapshot), "the repository snapshot")
    resources = {r.name: r.configured_values for r in snapshot.resources or []}
    assert resources["openai"]["api_key"].name == "OPENAI_API_KEY"
    assert resources["store"]["db_url"].name == "INVOICE_DB_URL"
    assert resources["alerts"]["webhook_url"].name == "INVOICE_ALERT_WEBHOOK_URL"


def test_settings_resources_and_extractor_errors_keep_secrets_out_of_their_text(
    deployment,
) -> None:
    env = deployment["env"]
    settings = Settings.from_env(env)
    texts = [repr(settings), str(settings), repr(settings.store()), str(settings.store())]
    texts += [repr(v) for v in build_resources(env).values()]
    texts.append(repr(OpenAIExtractor(api_key=OPENAI_SECRET)))
    from invoice_assets.commands.service import api_settings

    texts.append(repr(api_settings(settings)))
    for text in texts:
        _assert_no_secret(text, text[:60])

    # an API that rejects the key echoes it ("Incorrect API key provided: …"): scrubbed
    with StandIn(api_key="another-key") as rejecting:
        extractor = OpenAIExtractor(
            api_key=OPENAI_SECRET, base_url=rejecting.base_url, max_retries=0
        )
        batch = extractor.extract_documents([("a.pdf", tiny_pdf("reject"))])
        status, detail = extractor.check_api(timeout_seconds=3)
    (item,) = batch.items
    assert item.item.error is not None and item.item.error.code == "auth_error"
    assert status == "error"
    _assert_no_secret(f"{item.item.error.message} {detail} {batch.usage}", "extractor errors")
