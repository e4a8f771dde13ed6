"""``invoice-ops`` on hostile input: dates, ingest edges and broken config files.

Every case must exit 2 with a one-line reason on stderr and never a traceback. Dates and ingest
go through click's runner; config files that could hang a reader (a device, a FIFO) or blow the
recursion limit are given to real processes with a time bound, as an operator would run them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import REPO, SMOKE, invoke

DAY = "2025-02-03"
FILES = [str(p) for p in sorted(SMOKE.glob("*_invoice.json"))]
BAD_DATES = [
    "2025-03-10garbage",
    "2025-03-10' OR '1'='1",
    "20250310",
    "2025-3-10",
    "2025-02-30",
    " 2025-03-10",
    "2025-03-10\n",
    "٢٠٢٥-٠٣-١٠",  # Arabic-Indic digits: int() reads them, a day must not
    "0001-01-01",
    "9999-12-31",
    "",
]


def inbox_days(env: dict[str, str]) -> list[str]:
    inbox = Path(env["INVOICE_HOME"]) / "inbox"
    return sorted(p.name for p in inbox.iterdir()) if inbox.exists() else []


# --- strict ISO dates ----------------------------------------------------------------------------


@pytest.mark.parametrize("value", BAD_DATES)
@pytest.mark.parametrize(
    "command",
    [
        ["summary", "--date"],
        ["summary", "--start", DAY, "--end"],
        ["run", "--date"],
        ["run", "--date", DAY, "--to"],
        ["incidents", "list", "--date"],
        ["ingest", *FILES, "--date"],
    ],
    ids=["summary", "summary-end", "run", "run-to", "incidents", "ingest"],
)
def test_a_day_that_is_not_strict_iso_exits_two_with_a_message(cli_env, command, value):
    code, out, err = invoke(*command, value)
    assert code == 2, (out, err)
    assert err.startswith("error: ") and "Traceback" not in err
    assert inbox_days(cli_env) == []


def test_the_accepted_range_is_named_in_the_message(cli_env):
    code, _, err = invoke("summary", "--date", "1999-12-31")
    assert code == 2
    assert "between 2000-01-01 and 2999-12-31" in err


# --- ingest edges --------------------------------------------------------------------------------


def _today() -> date:
    return datetime.now(ZoneInfo("Europe/Istanbul")).date()


@pytest.mark.parametrize(
    "day",
    [
        "2023-12-31",  # the day before the partitions start (2024-01-01)
        "2000-01-01",
        "2999-01-01",
        (_today() + timedelta(days=1)).isoformat(),
    ],
    ids=["before-partitions", "2000", "2999", "tomorrow"],
)
def test_ingest_outside_the_partitions_exits_two_and_copies_nothing(cli_env, day):
    code, _, err = invoke("ingest", "--date", day, *FILES)
    assert code == 2
    assert f"--date {day} is not an inbox day" in err
    assert inbox_days(cli_env) == []


def test_ingest_today_is_accepted(cli_env):
    code, out, _ = invoke("ingest", "--date", _today().isoformat(), FILES[0])
    assert code == 0, out
    assert inbox_days(cli_env) == [_today().isoformat()]


def test_run_of_a_day_that_is_not_a_partition_exits_two(cli_env):
    code, _, err = invoke("run", "--date", "2023-12-31")
    assert code == 2
    assert "is not a partition" in err


@pytest.mark.parametrize("special", ["/dev/zero", "fifo"])
def test_ingest_of_a_special_file_exits_two_and_leaves_nothing(cli_env, tmp_path, special):
    if special == "fifo":
        special = str(tmp_path / "pipe.json")
        os.mkfifo(special)
    code, _, err = invoke("ingest", "--date", DAY, FILES[0], special)
    assert code == 2
    assert "not a regular file" in err and "Traceback" not in err
    assert inbox_days(cli_env) == []  # all or none: the regular file was not copied either


def test_ingest_of_two_files_with_one_name_exits_two(cli_env, tmp_path):
    for folder, total in (("a", "1"), ("b", "2")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "x.json").write_text(f'{{"v": {total}}}', encoding="utf-8")
    code, _, err = invoke(
        "ingest", "--date", DAY, str(tmp_path / "a/x.json"), str(tmp_path / "b/x.json")
    )
    assert code == 2
    assert "two different files are named 'x.json'" in err
    assert inbox_days(cli_env) == []


def test_ingest_of_a_file_already_in_place_is_idempotent(cli_env):
    assert invoke("ingest", "--date", DAY, *FILES)[0] == 0
    in_place = Path(cli_env["INVOICE_HOME"]) / "inbox" / DAY / Path(FILES[0]).name

    code, out, err = invoke("ingest", "--date", DAY, str(in_place))

    assert code == 0, err
    assert "1 in place" in out and "0 new or changed" in out


def test_ingest_of_a_different_file_under_an_existing_name_needs_replace(cli_env, tmp_path):
    assert invoke("ingest", "--date", DAY, FILES[0])[0] == 0
    changed = tmp_path / Path(FILES[0]).name
    changed.write_text(Path(FILES[0]).read_text(encoding="utf-8") + "\n", encoding="utf-8")

    code, _, err = invoke("ingest", "--date", DAY, str(changed))
    assert code == 2 and "--replace" in err

    code, out, _ = invoke("ingest", "--date", DAY, "--replace", str(changed))
    assert code == 0 and "1 replaced" in out and "1 new or changed" in out


# --- config files that must not hang or crash any command ----------------------------------------


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("INVOICE_", "OPENAI_"))}
    return subprocess.run(
        [sys.executable, "-m", "invoice_assets.cli", *args],
        cwd=REPO,
        env=full | env,
        capture_output=True,
        text=True,
        timeout=120,  # a read that waits on /dev/zero or a FIFO fails here instead of hanging
    )


def _deep_yaml(tmp_path: Path) -> str:
    path = tmp_path / "deep.yaml"
    path.write_text("Mismatch: " + "[" * 50_000 + "]" * 50_000 + "\n", encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("source", ["deep", "device", "directory"])
@pytest.mark.parametrize(
    "command",
    [["validate-config"], ["run", "--date", DAY], ["serve", "--port", "1"], ["health"]],
    ids=["validate-config", "run", "serve", "health"],
)
def test_a_config_file_that_cannot_be_read_exits_two_with_a_message(tmp_path, command, source):
    path = {"deep": _deep_yaml, "device": lambda _: "/dev/zero", "directory": str}[source](tmp_path)
    env = {"INVOICE_HOME": str(tmp_path / "home"), "INVOICE_THRESHOLDS_FILE": path}

    done = _run(command, env)

    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr and "RecursionError" not in done.stderr
    assert path in done.stdout + done.stderr
    reason = {
        "deep": "nested deeper than",
        "device": "not a regular file",
        "directory": "directory",
    }
    assert reason[source] in done.stdout + done.stderr


def test_validate_config_on_a_fifo_does_not_wait_for_a_writer(tmp_path):
    fifo = tmp_path / "thresholds.yaml"
    os.mkfifo(fifo)
    done = _run(["validate-config"], {"INVOICE_THRESHOLDS_FILE": str(fifo)})
    assert done.returncode == 2
    assert "not a regular file" in done.stdout
