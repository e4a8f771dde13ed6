"""``.ci/threshold_gate.py``: what the gate flags, what it lets through, and that the repo passes.

The gate runs as CI runs it, in a subprocess, over small files written to ``tmp_path``.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GATE = ROOT / ".ci" / "threshold_gate.py"


def run_gate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(GATE), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )


def gate_on(tmp_path: Path, source: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "module_under_gate.py"
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    return run_gate(str(path))


def findings(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in result.stdout.splitlines() if ".py:" in line]


@pytest.mark.parametrize(
    "source",
    [
        "ROUNDING_DELTA_THRESHOLD = 10.0\n",
        "RATIO = 0.05\n",
        "TOTAL_MISMATCH_SEVERE_RATIO: float = 0.20\n",
        "MIN_DIST_PRICE = 0.0\n",
        "HARD_STOP_DELTA_THRESHOLD = -20\n",
        "class AlertConfig:\n    bug_report_rate_threshold: float = 0.10\n",
        "class Settings:\n    low_confidence: float = 0.6\n",
        "def f():\n    LOW_CONFIDENCE = 0.6\n",
        "class C:\n    def __init__(self):\n        self.stuck_threshold_minutes = 10\n",
        "A, DRIFT_MIN_SAMPLE = 1, 20\n",
    ],
    ids=str.strip,
)
def test_gate_flags_a_threshold_named_binding_to_a_literal(tmp_path, source):
    result = gate_on(tmp_path, source)
    assert result.returncode == 1, result.stdout
    assert len(findings(result)) == 1
    assert "threshold-like name" in findings(result)[0]


@pytest.mark.parametrize(
    ("source", "line"),
    [
        ("def f(delta):\n    if delta >= 500.0:\n        return 1\n", 2),
        ("def f(x):\n    return x < 0.6\n", 2),
        ("def f(ratio):\n    return 0.05 <= ratio\n", 2),
        ("def f(delta):\n    return delta <= -10.0\n", 2),
        ("def f(x):\n    return 0 < x < 0.6\n", 2),
        ("ok = [s for s in range(9) if s > 20]\n", 1),
    ],
    ids=lambda p: p.splitlines()[-1].strip() if isinstance(p, str) else None,
)
def test_gate_flags_a_comparison_with_a_threshold_value(tmp_path, source, line):
    result = gate_on(tmp_path, source)
    assert result.returncode == 1, result.stdout
    [finding] = findings(result)
    assert finding.startswith(f"{tmp_path / 'module_under_gate.py'}:{line}: comparison with")


@pytest.mark.parametrize(
    "source",
    [
        "def f(x):\n    if x > 0:\n        return x\n",
        "def f(p):\n    return 0 <= p <= 1\n",
        "n = 500\n",
        "def f(parts):\n    return len(parts) != 2\n",
        "def f(x):\n    return x > 3\n",
        "def f(total):\n    ratio = 0.0\n    if total:\n        ratio = 1 / total\n"
        "    return ratio\n",
        "RATIO_LABEL = 'ratio'\n",
        "def test_grades(x):\n    assert x >= 80\n    assert (lambda: x < 0.6)()\n",
        "def f(t):\n    return t.Mismatch.RATIO <= 0.0 or t.Mismatch.RATIO > t.Mismatch.ABSOLUTE\n",
    ],
    ids=lambda s: s.strip().splitlines()[-1].strip(),
)
def test_gate_lets_through_code_without_threshold_literals(tmp_path, source):
    result = gate_on(tmp_path, source)
    assert result.returncode == 0, result.stdout
    assert result.stdout.strip() == "threshold gate: 1 files scanned, 0 findings"


def test_gate_honours_the_escape_hatch_with_a_reason(tmp_path):
    source = """\
        def f(status, delta):
            if status >= 500:  # threshold-gate: ok (HTTP 5xx, not a threshold)
                return 1
            if (
                delta
                >= 20  # threshold-gate: ok (a multi-line comparison)
            ):
                return 2
            return 0
        """
    assert gate_on(tmp_path, source).returncode == 0


@pytest.mark.parametrize(
    "marker",
    ["# threshold-gate: ok", "# threshold-gate: ok ()", "# threshold-gate: ok (  )"],
)
def test_gate_flags_an_escape_hatch_without_a_reason(tmp_path, marker):
    result = gate_on(tmp_path, f"def f(status):\n    return status >= 500  {marker}\n")
    assert result.returncode == 1
    reasons = [line.split(": ", 1)[1] for line in findings(result)]
    assert len(reasons) == 2
    assert any(reason.startswith("malformed marker") for reason in reasons)
    assert any(reason.startswith("comparison with literal 500") for reason in reasons)


def test_gate_flags_a_bare_marker_even_on_a_line_without_a_finding(tmp_path):
    result = gate_on(tmp_path, "n = 3  # threshold-gate: ok\n")
    assert result.returncode == 1
    assert "malformed marker" in findings(result)[0]


def test_gate_ignores_a_marker_inside_a_string(tmp_path):
    assert gate_on(tmp_path, "HELP = '# threshold-gate: ok'\n").returncode == 0


def test_gate_reports_a_file_it_cannot_parse(tmp_path):
    result = gate_on(tmp_path, "def broken(:\n")
    assert result.returncode == 1
    assert "cannot parse" in findings(result)[0]


def test_gate_reports_every_finding_with_path_and_line(tmp_path):
    source = """\
        RATIO = 0.05
        ROUNDING_DELTA_THRESHOLD = 10.0

        def f(delta, x):
            return delta >= 500.0 or x < 0.6
        """
    result = gate_on(tmp_path, source)
    path = tmp_path / "module_under_gate.py"
    assert result.returncode == 1
    assert [line.split(": ", 1)[0] for line in findings(result)] == [
        f"{path}:1",
        f"{path}:2",
        f"{path}:5",
        f"{path}:5",
    ]
    assert result.stdout.splitlines()[-1] == "threshold gate: 1 files scanned, 4 findings"


def test_gate_scans_a_directory_but_skips_tests_and_hidden_directories(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "rules.py").write_text("RATIO = 0.05\n", encoding="utf-8")
    for skipped in ("tests", ".venv", "build"):
        (tmp_path / skipped).mkdir()
        (tmp_path / skipped / "copy.py").write_text("RATIO = 0.05\n", encoding="utf-8")
    result = run_gate(str(tmp_path))
    assert result.returncode == 1
    assert [line.split(":")[0] for line in findings(result)] == [str(tmp_path / "pkg/rules.py")]
    assert "1 files scanned, 1 findings" in result.stdout


def test_repository_passes_the_gate():
    result = run_gate()
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith("files scanned, 0 findings")


def test_the_seeds_own_grep_gate_prints_nothing_over_the_sources():
    """seed §2.1, as the seed writes it, over the sources (not .venv: its packages have theirs)."""
    found = subprocess.run(
        'grep -rn "THRESHOLD\\s*=" --include="*.py" invoice_assets resources bench .ci tests'
        ' | grep -v "config.py" | grep -v "test_"',
        shell=True,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert found.stdout == ""
