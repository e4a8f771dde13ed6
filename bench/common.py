"""Shared helpers of the benchmarks: timing, machine facts, result records, scratch space and
throwaway PostgreSQL databases.

A benchmark module exposes ``run(quick: bool) -> dict`` (its result record) and a ``main()``
that parses ``--quick`` / ``--out PATH`` and prints the record's table. A result record is::

    {"name": ..., "seconds": wall time of the benchmark,
     "metrics": {key: {"value", "unit", "better": "lower"|"higher", "target"?, "met"?, "note"?}},
     "details": {...free-form, JSON-serialisable...}, "notes": [...]}
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PG_ADMIN_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
PG_HOST = "127.0.0.1"
PACKAGES = (
    "dagster",
    "dagster-postgres",
    "pandas",
    "numpy",
    "SQLAlchemy",
    "psycopg2-binary",
    "pydantic",
    "great-expectations",
    "openai",
    "httpx",
    "fastapi",
    "uvicorn",
)


def quiet_warnings() -> None:
    """Dagster's beta/preview warnings would drown the output."""
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", message=".*beta.*")
    warnings.filterwarnings("ignore", message=".*preview.*")
    with contextlib.suppress(ImportError):
        import dagster as dg

        warnings.filterwarnings("ignore", category=dg.BetaWarning)
        warnings.filterwarnings("ignore", category=dg.PreviewWarning)


# -- timing -------------------------------------------------------------------------------------


def repeat(fn: Callable[[], Any], times: int) -> list[float]:
    """Wall seconds of ``times`` calls of ``fn``."""
    out = []
    for _ in range(times):
        started = time.perf_counter()
        fn()
        out.append(time.perf_counter() - started)
    return out


def median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def rss_bytes() -> int:
    """Resident set size of this process now (Linux /proc)."""
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


class RssPeak:
    """Samples this process's RSS every ``interval`` seconds in a thread: peak minus start."""

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.start = self.peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> RssPeak:
        self.start = self.peak = rss_bytes()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes())
            self._stop.wait(self.interval)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.peak = max(self.peak, rss_bytes())

    @property
    def delta_mib(self) -> float:
        return (self.peak - self.start) / 2**20

    @property
    def peak_mib(self) -> float:
        return self.peak / 2**20


def profile_top(
    fn: Callable[[], Any], limit: int = 15, own: tuple[str, ...] = ("invoice_assets/", "resources/")
) -> tuple[Any, dict[str, list[dict[str, Any]]]]:
    """Run ``fn`` under cProfile: its result, the product functions with the largest cumulative
    time and the functions (any) with the largest self time."""
    import cProfile
    import io
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    try:
        result = fn()
    finally:
        profiler.disable()
    stats = pstats.Stats(profiler, stream=io.StringIO())
    rows = []
    for (path, line, func), (_cc, calls, tottime, cumtime, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        where = path.split("/site-packages/")[-1].replace(f"{ROOT}/", "")
        rows.append(
            {
                "function": f"{where}:{line}({func})",
                "calls": calls,
                "tottime_s": round(tottime, 3),
                "cumtime_s": round(cumtime, 3),
            }
        )
    mine = [r for r in rows if r["function"].startswith(own)]
    return result, {
        "cumulative_product_code": sorted(mine, key=lambda r: -r["cumtime_s"])[:limit],
        "self_time": sorted(rows, key=lambda r: -r["tottime_s"])[:limit],
    }


# -- results ------------------------------------------------------------------------------------


def metric(
    value: float,
    unit: str,
    better: str,
    target: float | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    """One figure; ``met`` is decided against ``target`` in the ``better`` direction."""
    out: dict[str, Any] = {"value": round(float(value), 6), "unit": unit, "better": better}
    if target is not None:
        out["target"] = target
        out["met"] = bool(value <= target) if better == "lower" else bool(value >= target)
    if note:
        out["note"] = note
    return out


def record(name: str, started: float, metrics: dict, details: dict, notes: list[str]) -> dict:
    return {
        "name": name,
        "seconds": round(time.perf_counter() - started, 2),
        "metrics": metrics,
        "details": details,
        "notes": notes,
    }


def format_record(rec: dict[str, Any]) -> str:
    lines = [f"== {rec['name']} ({rec.get('seconds', 0):.1f} s)"]
    if rec.get("error"):
        lines.append(f"   ERROR: {rec['error']}")
    for key, m in rec.get("metrics", {}).items():
        target = ""
        if "target" in m:
            sign = "≤" if m["better"] == "lower" else "≥"
            target = f"  (target {sign} {m['target']:g}: {'met' if m['met'] else 'MISSED'})"
        lines.append(f"   {key:<48} {m['value']:>14,.4g} {m['unit']}{target}")
    for note in rec.get("notes", []):
        lines.append(f"   - {note}")
    return "\n".join(lines)


def cli(name: str, run: Callable[..., dict[str, Any]], extra: Callable | None = None) -> None:
    """The command line of one benchmark module."""
    parser = argparse.ArgumentParser(prog=f"python -m bench.{name}")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--out", type=Path, help="also write the result record (JSON) here")
    if extra is not None:
        extra(parser)
    args = parser.parse_args()
    quiet_warnings()
    options = {k: v for k, v in vars(args).items() if k not in ("quick", "out")}
    rec = run(quick=args.quick, **options)
    print(format_record(rec), flush=True)
    if args.out:
        args.out.write_text(json.dumps(rec, indent=2, default=str) + "\n", encoding="utf-8")


# -- machine ------------------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    mem_kib = 0
    with contextlib.suppress(OSError), open("/proc/meminfo") as handle:
        for line in handle:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    cpu = platform.processor()
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as handle:
        for line in handle:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "ram_gib": round(mem_kib / 2**20, 1),
        "cpu": cpu,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": versions,
        "postgresql": postgres_version(),
    }


def code_state() -> dict[str, Any]:
    """The commit measured and the product files that differ from it (other work in progress)."""

    def git(*args: str) -> str:
        try:
            out = subprocess.run(
                ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.TimeoutExpired):
            return ""
        return out.stdout.strip()

    dirty = [
        line[3:]
        for line in git("status", "--porcelain").splitlines()
        if line[3:].startswith(("invoice_assets/", "resources/", "config/"))
    ]
    return {
        "commit": git("rev-parse", "--short", "HEAD") or None,
        "uncommitted_product_files": dirty,
    }


def postgres_version() -> str | None:
    try:
        out = subprocess.run(
            ["psql", "-h", PG_HOST, "-U", "postgres", "-tAc", "SHOW server_version"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


# -- scratch space ------------------------------------------------------------------------------


@contextlib.contextmanager
def scratch_dir(prefix: str) -> Iterator[Path]:
    """A temporary directory (outside the repository), removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix=f"bench-{prefix}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh database ``bench_<uuid>`` on the local server; dropped afterwards."""
    from sqlalchemy import create_engine, text

    name = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = f"postgresql+psycopg2://postgres@{PG_HOST}:5432/{name}"
    try:
        yield url
    finally:
        with contextlib.suppress(Exception):
            from resources.store import dispose_engine

            dispose_engine(url)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def postgres_available() -> bool:
    try:
        from sqlalchemy import create_engine, text

        engine = create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return True
    except Exception:
        return False


def python() -> str:
    return sys.executable
