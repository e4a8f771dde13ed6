"""The deployment files of ``deploy/`` read as data: the compose services' commands (with a test's
own host and ports), their images and environment names, the Helm values, the Dockerfile."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import REPO

DEPLOY = REPO / "deploy"
HOST_FLAGS = ("-h", "--host")
PORT_FLAGS = ("-p", "--port")


def load_yaml(name: str) -> Any:
    return yaml.safe_load((DEPLOY / name).read_text(encoding="utf-8"))


def compose() -> dict[str, Any]:
    return dict(load_yaml("docker-compose.yaml"))


def services() -> dict[str, dict[str, Any]]:
    return dict(compose()["services"])


def with_options(argv: Sequence[str], **values: str) -> list[str]:
    """``argv`` with the value after a host or port flag replaced (``host=``, ``port=``)."""
    out = list(argv)
    for i, token in enumerate(out[:-1]):
        if token in HOST_FLAGS and "host" in values:
            out[i + 1] = values["host"]
        if token in PORT_FLAGS and "port" in values:
            out[i + 1] = values["port"]
    return out


def interpolate(token: str, variables: Mapping[str, str] | None = None) -> str:
    """Compose's ``${NAME:-default}`` and ``${NAME}`` in ``token``, from ``variables``."""
    given = variables or {}

    def value(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(3)
        return given.get(name) or (default if default is not None else "")

    return re.sub(r"\$\{(\w+)(:-([^}]*))?\}", value, token)


def service_command(name: str, **values: str) -> list[str]:
    """The command compose runs for ``name`` (variables at their defaults), with
    ``host``/``port`` replaced."""
    return with_options([interpolate(t) for t in services()[name]["command"]], **values)


def compose_value(service: str, name: str) -> str:
    """The value compose gives ``name`` in ``service`` (variables at their defaults)."""
    return interpolate(str(services()[service]["environment"][name]))


def healthcheck(name: str, **values: str) -> list[str]:
    """The health check command of ``name`` (its ``CMD`` form), with ``host``/``port`` replaced."""
    test = services()[name]["healthcheck"]["test"]
    assert test[0] == "CMD", f"{name}: a CMD-SHELL health check cannot be run here"
    return with_options(test[1:], **values)


def environment_names(service: Mapping[str, Any]) -> set[str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        return {item.split("=", 1)[0] for item in env}
    return set(env)


def dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) of every instruction of deploy/Dockerfile, continuations joined."""
    lines, current = [], ""
    for raw in (DEPLOY / "Dockerfile").read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        current += line[:-1] + " " if line.endswith("\\") else line
        if not line.endswith("\\"):
            keyword, _, rest = current.partition(" ")
            lines.append((keyword.upper(), rest.strip()))
            current = ""
    return lines


def readme_path() -> Path:
    return DEPLOY / "README.md"
