"""The guard location: a broken config reaches the webhook although the main location (and with
it every pipeline sensor) refuses to load; one alert, however many ticks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from invoice_assets.guard import build_guard_definitions, location_guard_sensor
from tests.assets.helpers import store_for
from tests.conftest import REPO
from tests.webhook import Receiver

BROKEN = {"INVOICE_THRESHOLD__MISMATCH__SEVERE_RATIO": "0.01"}  # I1: below RATIO


@pytest.fixture
def instance(tmp_path: Path):
    (tmp_path / "dagster").mkdir()
    with dg.DagsterInstance.local_temp(str(tmp_path / "dagster")) as temp:
        yield temp


def _tick(env: dict[str, str], instance, cursor: str | None) -> tuple[str, str | None]:
    defs = build_guard_definitions(env)
    with dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"alerts": defs.resources["alerts"]}
    ) as context:
        result = location_guard_sensor(context)
        return result.skip_message or "", context.cursor


def test_a_broken_config_reaches_the_webhook_once(sqlite_env, apply_env, instance) -> None:
    with Receiver() as receiver:
        env = apply_env(sqlite_env | {"INVOICE_ALERT_WEBHOOK_URL": receiver.url} | BROKEN)
        first, cursor = _tick(env, instance, None)
        second, cursor = _tick(env, instance, cursor)
        restarted, cursor = _tick(env, instance, None)  # a restarted daemon: no cursor
        os.environ.pop("INVOICE_THRESHOLD__MISMATCH__SEVERE_RATIO")
        repaired, _ = _tick(dict(os.environ), instance, cursor)

    texts = [p["text"] for p in receiver.received]
    assert len([t for t in texts if "CONFIG_INVALID" in t]) == 1, texts
    assert texts[0].startswith("[CRITICAL] CONFIG_INVALID: 1 threshold violation(s)")
    assert any("Mismatch.SEVERE_RATIO" in f["value"] for f in _fields(receiver.received[0]))
    assert "CONFIG_INVALID: sent" in first
    assert "suppressed" in second and "suppressed" in restarted
    assert "loads again" in repaired
    assert texts[-1].startswith("[INFO] CONFIG_RESTORED")
    (alert,) = store_for(env).alerts(code="CONFIG_INVALID")
    assert alert["delivered"] is True


def _fields(payload: dict) -> list[dict]:
    return payload["attachments"][0]["fields"]


def test_the_guard_location_loads_while_the_main_location_refuses(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INVOICE_")}
    env |= {"INVOICE_HOME": str(tmp_path), "DAGSTER_HOME": str(tmp_path)} | BROKEN
    dagster = Path(sys.executable).parent / "dagster"

    def validate(module: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(dagster), "definitions", "validate", "-m", module],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )

    assert validate("invoice_assets.definitions").returncode != 0
    guard = validate("invoice_assets.guard")
    assert guard.returncode == 0, guard.stdout + guard.stderr
