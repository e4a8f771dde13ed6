"""What can be checked of deploy/ without a container runtime or a cluster: the production instance
file loads, every command the containers run exists here and parses, the services share one image
and the product's own environment names, no secret is written down, the Dockerfile is pinned and
non-root, and compose, the instance file and the Helm values give the same limits."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from tests.conftest import REPO
from tests.deploy.deploy_files import (
    DEPLOY,
    dockerfile,
    environment_names,
    interpolate,
    load_yaml,
    service_command,
    services,
)
from tests.processes import command, pg_instance_env

PRODUCT = re.compile(r"^(INVOICE|OPENAI)_[A-Z0-9_]+$")
SECRET = re.compile(r"PASSWORD|API_KEY|WEBHOOK_URL|DB_URL")
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
K8S = sorted((DEPLOY / "k8s").glob("*.yaml"))


def _k8s_documents() -> list[dict[str, Any]]:
    import yaml

    return [d for path in K8S for d in yaml.safe_load_all(path.read_text()) if d]


def _k8s_containers() -> list[dict[str, Any]]:
    return [
        container
        for doc in _k8s_documents()
        if doc["kind"] in {"Deployment", "Job"}
        for container in doc["spec"]["template"]["spec"]["containers"]
    ]


def _helm() -> dict[str, Any]:
    return dict(load_yaml("helm-values.yaml"))


def _helm_code_server() -> list[str]:
    deployment = _helm()["dagster-user-deployments"]["deployments"][0]
    # What the chart runs for a deployment with codeServerArgs.
    port = str(deployment["port"])
    return [
        "dagster",
        "code-server",
        "start",
        "-h",
        "0.0.0.0",
        "-p",
        port,
        *deployment["codeServerArgs"],
    ]


def _names_the_code_reads() -> set[str]:
    names = set()
    for folder in ("invoice_assets", "resources"):
        for path in (REPO / folder).rglob("*.py"):
            names |= set(re.findall(r"[\"']((?:INVOICE|OPENAI)_[A-Z0-9_]+)[\"']", path.read_text()))
    return names


def _names_the_readme_documents() -> set[str]:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"`((?:INVOICE|OPENAI|DAGSTER)_[A-Z0-9_]+)`", table))


# -- the instance ------------------------------------------------------------------------------
def test_the_production_instance_file_loads_with_its_queue_launcher_monitoring_and_pool(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "dagster.yaml").write_bytes((DEPLOY / "dagster.yaml").read_bytes())
    for key, value in pg_instance_env(pg_url).items():
        monkeypatch.setenv(key, value)

    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        concurrency = instance.get_concurrency_config()
        coordinator = type(instance.run_coordinator).__name__
        launcher = type(instance.run_launcher).__name__
        monitoring = instance.run_monitoring_enabled
        storage = type(instance.run_storage).__name__

    assert (coordinator, launcher, monitoring) == (
        "QueuedRunCoordinator",
        "DefaultRunLauncher",
        True,
    )
    assert storage == "PostgresRunStorage"
    assert concurrency.run_queue_config is not None
    assert concurrency.run_queue_config.max_concurrent_runs == 4
    assert concurrency.run_queue_config.tag_concurrency_limits == [
        {"key": "dagster/backfill", "limit": 2}
    ]
    assert concurrency.pool_config.default_pool_limit == 2


def test_compose_the_instance_file_and_the_helm_values_give_the_same_pool_limit() -> None:
    instance = load_yaml("dagster.yaml")["concurrency"]["pools"]
    helm = _helm()["concurrency"]["pools"]
    init = service_command("dagster-init")
    job = next(c for c in _k8s_containers() if c["name"] == "init")["command"]

    assert init[:5] == job[:5] == ["dagster", "instance", "concurrency", "set", "openai"]
    assert int(init[5]) == int(job[5]) == instance["default_limit"] == helm["defaultLimit"]
    assert (instance["granularity"], instance["op_granularity_run_buffer"]) == (
        helm["granularity"],
        helm["opGranularityRunBuffer"],
    )
    # The chart names the location after the deployment unless the workspace says otherwise.
    server = _helm()["dagsterWebserver"]["workspace"]["servers"][0]
    workspace = load_yaml("workspace.yaml")["load_from"][0]["grpc_server"]
    assert (
        server["name"]
        == workspace["location_name"]
        == PYPROJECT["tool"]["dagster"]["code_location_name"]
    )
    assert _helm()["runLauncher"]["type"] == "K8sRunLauncher"


# -- the commands ------------------------------------------------------------------------------
def _commands() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for name, service in services().items():
        if "command" in service:
            found[f"compose {name}"] = service_command(name)
        test = (service.get("healthcheck") or {}).get("test") or []
        if test[:1] == ["CMD"] and test[1] != "python":
            found[f"compose {name} health check"] = [interpolate(t) for t in test[1:]]
    found["helm code server"] = _helm_code_server()
    for container in _k8s_containers():
        found[f"k8s {container['name']}"] = container["command"]
    cmd = next(args for keyword, args in dockerfile() if keyword == "CMD")
    found["Dockerfile CMD"] = list(eval(cmd))  # a JSON-style list literal
    return found


def test_every_command_the_containers_run_exists_here_and_its_options_parse() -> None:
    """Each command with ``--help`` appended: an unknown program, subcommand or option fails
    (click parses every option before it answers --help)."""
    commands = _commands()
    started = {
        label: subprocess.Popen(
            [*command(argv), "--help"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        for label, argv in commands.items()
    }
    failed = {}
    for label, process in started.items():
        out, _ = process.communicate(timeout=120)
        if process.returncode != 0:
            failed[label] = out.decode(errors="replace")[-500:]
    assert not failed, failed
    assert {"compose codeserver", "compose webserver", "compose daemon", "compose ops-api"} <= set(
        commands
    )


def test_the_python_health_checks_compile_and_probe_the_services_own_endpoints() -> None:
    probes = {}
    for name, service in services().items():
        test = (service.get("healthcheck") or {}).get("test") or []
        if test[:2] == ["CMD", "python"]:
            compile(test[3], f"{name} health check", "exec")
            probes[name] = re.findall(r"http://127\.0\.0\.1:(\d+)(/[\w/]*)", test[3])
    assert probes == {
        "webserver": [("3000", "/server_info")],
        "ops-api": [("8080", "/health/ready")],
    }
    probes_k8s = {
        (c["livenessProbe"]["httpGet"]["path"], c["readinessProbe"]["httpGet"]["path"])
        for c in _k8s_containers()
        if "livenessProbe" in c
    }
    assert probes_k8s == {("/health", "/health/ready")}


# -- image, names and secrets -----------------------------------------------------------------
def test_every_service_but_postgresql_runs_the_one_project_image() -> None:
    version = PYPROJECT["project"]["version"]
    images = {name: interpolate(s.get("image", "")) for name, s in services().items()}
    builds = {name: s.get("build") for name, s in services().items() if name != "postgres"}
    helm = _helm()
    helm_images = {
        f"{i['repository']}:{i['tag']}"
        for i in (
            helm["dagsterWebserver"]["image"],
            helm["dagsterDaemon"]["image"],
            helm["dagster-user-deployments"]["deployments"][0]["image"],
        )
    }

    assert {images[n] for n in builds} == {f"invoice-assets:{version}"}
    assert all(b == {"context": "..", "dockerfile": "deploy/Dockerfile"} for b in builds.values())
    assert images["postgres"].startswith("postgres:15.")
    assert len(helm_images) == 1 and helm_images.pop().endswith(f"/invoice-assets:{version}")
    assert {c["image"].rsplit("/", 1)[-1] for c in _k8s_containers()} == {
        f"invoice-assets:{version}"
    }


def test_the_services_use_the_products_own_environment_names() -> None:
    code, readme = _names_the_code_reads(), _names_the_readme_documents()
    compose_names = {n for s in services().values() for n in environment_names(s)}
    helm_names = {
        e["name"] for e in _helm()["dagster-user-deployments"]["deployments"][0]["env"]
    } | {e["name"] for c in _k8s_containers() for e in c.get("env", [])}
    product = {n for n in compose_names | helm_names if PRODUCT.match(n)}

    assert product, "no product variable in the deployment"
    assert product <= code, f"names the code never reads: {sorted(product - code)}"
    assert product <= readme, f"names the README does not document: {sorted(product - readme)}"
    # The code server (which runs the runs) is configured with every documented variable.
    documented = {n for n in readme if PRODUCT.match(n) and n != "INVOICE_OPS_TOKENS_FILE"}
    assert documented <= environment_names(services()["codeserver"])
    assert "INVOICE_OPS_TOKENS_FILE" in environment_names(services()["ops-api"])
    # The instance and workspace files read exactly the DAGSTER_* names compose sets.
    referenced = set(
        re.findall(
            r"\{env: (DAGSTER_\w+)\}",
            (DEPLOY / "dagster.yaml").read_text() + (DEPLOY / "workspace.yaml").read_text(),
        )
    )
    dagster_names = {n for n in environment_names(services()["daemon"]) if n != "DAGSTER_HOME"}
    assert referenced == dagster_names


def test_no_secret_value_is_written_in_the_deployment_files() -> None:
    for name, service in services().items():
        env = service.get("environment") or {}
        for key, value in env.items():
            if SECRET.search(key) and value is not None:
                # Only interpolated from the environment of `docker compose`, never a literal.
                assert "${" in str(value), f"{name}: {key} has a literal value"
    helm_env = _helm()["dagster-user-deployments"]["deployments"][0]["env"]
    assert not [e for e in helm_env if SECRET.search(e["name"])]
    assert _helm()["postgresql"].get("postgresqlPassword") is None  # from the secret


def test_the_dockerfile_is_pinned_non_root_and_installs_the_project_from_pyproject() -> None:
    instructions = dockerfile()
    base = [args for keyword, args in instructions if keyword == "FROM"]
    users = [args for keyword, args in instructions if keyword == "USER"]
    runs = " ".join(args for keyword, args in instructions if keyword == "RUN")
    copied = [args.split()[0] for keyword, args in instructions if keyword == "COPY"]

    assert len(base) == 1 and re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+", base[0]), base
    assert users and users[-1].split(":")[0] not in {"0", "root"}
    assert re.search(r"pip install -c deploy/constraints\.txt -e \"\.\[k8s\]\"", runs)
    assert "k8s" in PYPROJECT["project"]["optional-dependencies"]
    assert all((REPO / path).exists() for path in copied), copied


def test_the_constraints_pin_what_pyproject_asks_for() -> None:
    from packaging.requirements import Requirement

    pinned = {}
    for line in (DEPLOY / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pinned[re.sub(r"[-_.]+", "-", name).lower()] = version
    for raw in PYPROJECT["project"]["dependencies"]:
        requirement = Requirement(raw)
        key = re.sub(r"[-_.]+", "-", requirement.name).lower()
        assert key in pinned, f"{requirement.name} has no constraint"
        assert requirement.specifier.contains(pinned[key]), (raw, pinned[key])
