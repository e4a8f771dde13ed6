"""Benchmark 6 — code-location load time: ``python -c "import invoice_assets.definitions"`` in a
fresh interpreter (what ``dagster dev``, ``dagster definitions validate`` and every run worker
pay), with Great Expectations imported lazily inside the checks (as shipped) vs eagerly
(``import great_expectations`` first). Median of 5 fresh processes each, alternating, after one
untimed run of each to warm the OS file cache; also the interpreter floor (``python -c pass``)
and, when the lazy load misses its target, the slowest imports from ``-X importtime``.

    .venv/bin/python -m bench.load_time [--quick] [--out result.json]
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

from bench.common import ROOT, cli, median, metric, record

NAME = "load_time"
TARGET_LAZY_S = 2.0
LAZY = "import invoice_assets.definitions"
EAGER = "import great_expectations; import invoice_assets.definitions"


def _env() -> dict[str, str]:
    skip = ("INVOICE_", "OPENAI_", "PYTHONDONTWRITEBYTECODE", "PYTHONPROFILEIMPORTTIME")
    return {k: v for k, v in os.environ.items() if not k.startswith(skip)}


def timed_import(code: str, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=120,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def slowest_imports(code: str, env: dict[str, str], limit: int = 12) -> list[dict[str, Any]]:
    """Top-level packages by cumulative import time (``-X importtime``), slowest first."""
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    totals: dict[str, int] = {}
    for line in out.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = (part.strip() for part in line[len("import time:") :].split("|"))
        if not cumulative.isdigit():
            continue
        top = name.strip().split(".")[0]
        depth = len(name) - len(name.lstrip())
        if depth == 0 or top in ("invoice_assets", "resources"):
            key = name.strip() if top in ("invoice_assets", "resources") else top
            totals[key] = max(totals.get(key, 0), int(cumulative))
    ranked = sorted(totals.items(), key=lambda kv: -kv[1])[:limit]
    return [{"module": k, "cumulative_s": round(v / 1e6, 3)} for k, v in ranked]


def run(quick: bool = False) -> dict[str, Any]:
    started = time.perf_counter()
    repeats = 2 if quick else 5
    env = _env()
    timed_import(LAZY, env)  # warm the page cache and __pycache__
    timed_import(EAGER, env)
    floor, lazy, eager = [], [], []
    for _ in range(repeats):
        floor.append(timed_import("pass", env))
        lazy.append(timed_import(LAZY, env))
        eager.append(timed_import(EAGER, env))
    lazy_s, eager_s, floor_s = median(lazy), median(eager), median(floor)
    metrics = {
        "definitions_load_lazy_gx_s": metric(lazy_s, "s", "lower", TARGET_LAZY_S),
        "definitions_load_eager_gx_s": metric(eager_s, "s", "lower"),
        "gx_eager_extra_s": metric(eager_s - lazy_s, "s", "lower"),
        "python_startup_floor_s": metric(floor_s, "s", "lower"),
    }
    details: dict[str, Any] = {
        "lazy_s": [round(x, 3) for x in lazy],
        "eager_s": [round(x, 3) for x in eager],
        "python_floor_s": [round(x, 3) for x in floor],
    }
    if lazy_s > TARGET_LAZY_S or not quick:
        details["slowest_imports_lazy"] = slowest_imports(LAZY, env)
    notes = [f"median of {repeats} fresh processes each (lazy, eager and floor interleaved)"]
    return record(NAME, started, metrics, details, notes)


def main() -> None:
    cli(NAME, run)


if __name__ == "__main__":
    main()
