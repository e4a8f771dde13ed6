"""The code location: the graph snapshot, the schedule, and refusing a broken config."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from invoice_assets.definitions import build_definitions

REPO = Path(__file__).resolve().parent.parent
SNAPSHOT = Path(__file__).parent / "definitions_snapshot.json"


def _graph(defs: dg.Definitions) -> dict[str, list[str]]:
    graph = defs.resolve_asset_graph()
    return {
        "assets": sorted(k.to_user_string() for k in graph.get_all_asset_keys()),
        "edges": sorted(
            f"{parent.to_user_string()} -> {key.to_user_string()}"
            for key in graph.get_all_asset_keys()
            for parent in graph.get(key).parent_keys
        ),
        "checks": sorted(
            f"{c.asset_key.to_user_string()}:{c.name}" for c in graph.asset_check_keys
        ),
        "jobs": sorted(j.name for j in defs.resolve_all_job_defs() if not j.name.startswith("__")),
        "schedules": sorted(s.name for s in defs.schedules or []),
        "sensors": sorted(s.name for s in defs.sensors or []),
        "groups": sorted(
            f"{k.to_user_string()}:{graph.get(k).group_name}" for k in graph.get_all_asset_keys()
        ),
    }


def test_the_definitions_match_the_committed_graph_snapshot(tmp_path: Path) -> None:
    defs = build_definitions({"INVOICE_HOME": str(tmp_path)})

    assert _graph(defs) == json.loads(SNAPSHOT.read_text(encoding="utf-8"))


def test_every_asset_is_daily_partitioned_with_a_single_run_backfill_policy(tmp_path: Path) -> None:
    graph = build_definitions({"INVOICE_HOME": str(tmp_path)}).resolve_asset_graph()

    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert isinstance(node.partitions_def, dg.DailyPartitionsDefinition)
        assert node.partitions_def.timezone == "Europe/Istanbul"
        assert node.partitions_def.start.date().isoformat() == "2024-01-01"  # SPEC default
        assert node.backfill_policy == dg.BackfillPolicy.single_run()


def test_the_partition_start_and_the_per_day_backfill_policy_are_settings(tmp_path: Path) -> None:
    env = {
        "INVOICE_HOME": str(tmp_path),
        "INVOICE_PARTITIONS_START": "2026-11-01",
        "INVOICE_BACKFILL_POLICY": "per_day",
    }
    defs = build_definitions(env)
    graph = defs.resolve_asset_graph()

    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.partitions_def.start.date().isoformat() == "2026-11-01"
        assert node.backfill_policy == dg.BackfillPolicy.multi_run(max_partitions_per_run=1)
    job = defs.resolve_job_def("daily_invoices")
    assert job.partitions_def is not None
    assert job.partitions_def.get_first_partition_key() == "2026-11-01"


def test_a_bad_partition_setting_names_its_variable(tmp_path: Path) -> None:
    from invoice_assets.services.settings import SettingsError

    for name, value in [
        ("INVOICE_PARTITIONS_START", "20261101"),
        ("INVOICE_PARTITIONS_START", "2026-02-30"),
        ("INVOICE_BACKFILL_POLICY", "nightly"),
    ]:
        with pytest.raises(SettingsError, match=name):
            build_definitions({"INVOICE_HOME": str(tmp_path), name: value})


def test_every_check_is_evaluated_per_day_and_says_what_it_checks(tmp_path: Path) -> None:
    graph = build_definitions({"INVOICE_HOME": str(tmp_path)}).resolve_asset_graph()

    for key in graph.asset_check_keys:
        spec = graph.get_check_spec(key)
        assert spec.description, key
        if spec.name == "freshness_check":  # about the latest day, not one day
            continue
        assert isinstance(spec.partitions_def, dg.DailyPartitionsDefinition), key


def test_ui_launched_runs_use_the_in_process_executor(tmp_path: Path) -> None:
    defs = build_definitions({"INVOICE_HOME": str(tmp_path)})
    implicit = defs.resolve_implicit_global_asset_job_def()

    assert implicit.executor_def.name == dg.in_process_executor.name
    assert defs.resolve_job_def("daily_invoices").executor_def.name == "in_process"


def test_every_stored_asset_says_its_table_and_columns(tmp_path: Path) -> None:
    graph = build_definitions({"INVOICE_HOME": str(tmp_path)}).resolve_asset_graph()

    for key in graph.get_all_asset_keys():
        metadata = graph.get(key).metadata
        assert str(metadata["dagster/table_name"]).startswith("invoice_store."), key
        schema = metadata["dagster/column_schema"]
        schema = schema.schema if hasattr(schema, "schema") else schema
        assert {"day"} <= {c.name for c in schema.columns}, key


def test_loading_the_location_prints_no_warning(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-W",
            "default",
            "-c",
            "from invoice_assets.definitions import defs; defs.resolve_asset_graph()",
        ],
        cwd=REPO,
        env={k: v for k, v in os.environ.items() if not k.startswith("INVOICE_")}
        | {"INVOICE_HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr, result.stderr


def test_the_daily_schedule_requests_the_previous_day_at_one_in_the_morning(tmp_path: Path) -> None:
    defs = build_definitions({"INVOICE_HOME": str(tmp_path)})
    schedule = defs.resolve_schedule_def("daily_invoices_schedule")
    assert schedule.cron_schedule == "0 1 * * *"
    assert schedule.execution_timezone == "Europe/Istanbul"
    tick = datetime(2025, 3, 10, 1, 0, tzinfo=ZoneInfo("Europe/Istanbul"))

    with dg.DagsterInstance.ephemeral() as instance:
        context = dg.build_schedule_context(instance=instance, scheduled_execution_time=tick)
        requests = schedule.evaluate_tick(context).run_requests

    assert requests is not None
    assert [r.partition_key for r in requests] == ["2025-03-09"]


def _load_in_subprocess(env_overrides: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INVOICE_THRESHOLD")}
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "-c", "import invoice_assets.definitions"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_loading_the_code_location_fails_on_a_broken_threshold_override(tmp_path: Path) -> None:
    result = _load_in_subprocess(
        {"INVOICE_HOME": str(tmp_path), "INVOICE_THRESHOLD__MISMATCH__SEVERE_RATIO": "0.01"}
    )

    assert result.returncode != 0
    assert "ThresholdsError" in result.stderr
    assert "Mismatch.SEVERE_RATIO" in result.stderr


def test_loading_the_code_location_fails_on_a_broken_thresholds_file(tmp_path: Path) -> None:
    broken = tmp_path / "thresholds.yaml"
    text = (REPO / "config" / "thresholds.yaml").read_text(encoding="utf-8")
    broken.write_text(text.replace("LOW_CONFIDENCE: 0.6", "LOW_CONFIDENC: 0.6"), encoding="utf-8")

    result = _load_in_subprocess(
        {"INVOICE_HOME": str(tmp_path), "INVOICE_THRESHOLDS_FILE": str(broken)}
    )

    assert result.returncode != 0
    assert "Validation.LOW_CONFIDENC: unknown key" in result.stderr
    assert "Validation.LOW_CONFIDENCE: missing key" in result.stderr


def test_dagster_definitions_validate_refuses_a_broken_config(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INVOICE_THRESHOLD")}
    (tmp_path / "dagster").mkdir()
    env |= {
        "INVOICE_HOME": str(tmp_path),
        "DAGSTER_HOME": str(tmp_path / "dagster"),
        "INVOICE_THRESHOLD__HEALTH__DB_WARN_MS": "5000",
    }
    dagster = Path(sys.executable).parent / "dagster"

    broken = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    env.pop("INVOICE_THRESHOLD__HEALTH__DB_WARN_MS")
    valid = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )

    assert broken.returncode != 0
    assert "Health.DB_WARN_MS" in broken.stdout + broken.stderr
    assert valid.returncode == 0, valid.stdout + valid.stderr
