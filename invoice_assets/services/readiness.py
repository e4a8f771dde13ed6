"""Readiness (SPEC §5.9): the checks, each bounded by one deadline, so a hung dependency makes the
answer "not ready" quickly instead of hanging the caller.

``database`` (latency, a committed write probe and free space on the SQLite disk), ``config``,
``openai_api``, ``queue`` and ``runs`` (Dagster runs whose process is gone, runs stuck STARTED,
pool slots nobody will free: ``services.dead_runs``). Each check runs on its own daemon thread:
one that outlives the deadline is reported as timed out and can never keep a command
(``invoice-ops health``) from exiting.

Used by ``GET /health/ready``, ``invoice-ops health`` and ``invoice-ops status``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from invoice_assets.domain.thresholds import Thresholds
from invoice_assets.services.dead_runs import inspect_runs, open_instance
from resources.store import InvoiceStore
from resources.thresholds import check_thresholds

# Checks still running on their daemon threads (a hung database, say), across callers: past
# this many, new checks are not started and report why, so a hang cannot pile up threads.
_RUNNING = threading.BoundedSemaphore(32)
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CheckResult:
    status: str  # ok, degraded, error, disabled
    detail: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, **self.detail}


def _run(fn: Callable[[], CheckResult]) -> CheckResult:
    """Run a check; a check must answer, never raise."""
    started = time.perf_counter()
    try:
        return fn()
    except Exception as exc:
        elapsed = (time.perf_counter() - started) * 1000.0
        return CheckResult(
            "error",
            {"error": f"{type(exc).__name__}: {_first_line(exc)}", "elapsed_ms": round(elapsed, 2)},
        )


def _start(name: str, fn: Callable[[], CheckResult]) -> Future[CheckResult]:
    """The check on its own daemon thread (or its refusal when too many still hang)."""
    future: Future[CheckResult] = Future()
    if not _RUNNING.acquire(blocking=False):
        future.set_result(
            CheckResult("error", {"error": f"{name} check not started: earlier checks still hang"})
        )
        return future

    def run() -> None:
        try:
            future.set_result(_run(fn))
        finally:
            _RUNNING.release()

    try:
        threading.Thread(target=run, name=f"readiness {name}", daemon=True).start()
    except RuntimeError as exc:  # no thread to be had
        _RUNNING.release()
        future.set_result(CheckResult("error", {"error": f"{name} check not started: {exc}"}))
    return future


def _gather(jobs: dict[str, Callable[[], CheckResult]], timeout: float) -> dict[str, CheckResult]:
    """All checks at once, each bounded by the same deadline."""
    futures = {name: _start(name, fn) for name, fn in jobs.items()}
    wait(futures.values(), timeout=timeout)
    return {
        name: future.result()
        if future.done()
        else CheckResult("error", {"error": f"{name} check timed out after {timeout:g} s"})
        for name, future in futures.items()
    }


def check_database(store: InvoiceStore, t: Thresholds) -> CheckResult:
    """Latency of ``SELECT 1`` against DB_WARN_MS / DB_ERROR_MS; then whether the store can
    write (a committed one-row write) and, for SQLite, has MIN_FREE_MB left on its disk."""
    latency = store.ping_ms()
    status = "ok"
    if latency >= t.Health.DB_ERROR_MS:
        status = "error"
    elif latency >= t.Health.DB_WARN_MS:
        status = "degraded"
    detail: dict[str, Any] = {"latency_ms": round(latency, 2), "backend": store.backend}
    problems = []
    try:
        detail["write"] = "ok" if store.probe_write() else "skipped: a writer holds the lock"
    except Exception as exc:
        detail["write"] = "error"
        problems.append(f"cannot write: {type(exc).__name__}: {_first_line(exc)}")
    free = store.free_bytes()
    if free is not None:
        detail["free_mb"] = round(free / 2**20, 1)
        if free < t.Health.MIN_FREE_MB * 2**20:
            problems.append(
                f"{detail['free_mb']} MB free on the store's disk, below Health.MIN_FREE_MB "
                f"({t.Health.MIN_FREE_MB:g})"
            )
    if problems:
        return CheckResult("error", detail | {"error": "; ".join(problems)})
    return CheckResult(status, detail)


def check_runs(dagster_home: Path | None, t: Thresholds) -> CheckResult:
    """Dead runs, runs stuck STARTED and orphaned pool slots of the Dagster instance."""
    instance = open_instance(dagster_home)
    if instance is None:
        return CheckResult("disabled", {"detail": f"no Dagster instance at {dagster_home}"})
    health = inspect_runs(instance, t.Recovery.STUCK_MINUTES)
    return CheckResult("ok" if health.ok else "error", health.as_dict())


def check_config(env: Mapping[str, str] | None = None) -> CheckResult:
    model, violations, source = check_thresholds(env=env)
    if model is None:
        return CheckResult("error", {"source": source, "violations": [str(v) for v in violations]})
    return CheckResult("ok", {"source": source})


def check_queue(store: InvoiceStore, t: Thresholds) -> CheckResult:
    state = store.queue_state(t.Recovery.STUCK_MINUTES)
    status = "error" if state["stuck_detected"] else "ok"
    return CheckResult(
        status,
        {
            "depth": state["current_depth"],
            "stuck": state["stuck_detected"],
            "last_progress_at": state["last_progress_at"],
        },
    )


@dataclass(frozen=True)
class ReadinessReport:
    ready: bool
    checks: dict[str, CheckResult]
    last_activity: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": "ready" if self.ready else "not_ready",
            "checks": {name: c.as_dict() for name, c in self.checks.items()},
            "failing_checks": [n for n, c in self.checks.items() if c.status == "error"],
            "last_activity": self.last_activity,
        }


def readiness(
    store: InvoiceStore,
    t: Thresholds,
    *,
    openai_check: Callable[[], tuple[str, str]] | None = None,
    env: Mapping[str, str] | None = None,
    timeout_seconds: float = 2.0,
    dagster_home: Path | None = None,
) -> ReadinessReport:
    """Run the checks concurrently, each bounded by ``timeout_seconds``; ``runs`` reads the
    Dagster instance under ``dagster_home`` (disabled without one)."""
    jobs: dict[str, Callable[[], CheckResult]] = {
        "database": lambda: check_database(store, t),
        "config": lambda: check_config(env),
        "queue": lambda: check_queue(store, t),
        "runs": lambda: check_runs(dagster_home, t),
    }
    if openai_check is not None:
        check = openai_check

        def openai() -> CheckResult:
            status, detail = check()
            return CheckResult(status, {"detail": detail})

        jobs["openai_api"] = openai
    jobs["activity"] = lambda: CheckResult("ok", store.last_activity())
    checks = _gather(jobs, timeout_seconds)
    activity = checks.pop("activity")
    if openai_check is None:
        checks["openai_api"] = CheckResult("disabled", {"detail": "OPENAI_API_KEY not set"})
    ready = all(c.status != "error" for c in checks.values())
    ordered = {k: checks[k] for k in ("database", "config", "openai_api", "queue", "runs")}
    last = activity.detail if activity.status == "ok" else {}
    return ReadinessReport(ready, ordered, last)


class ReadinessCache:
    """The last readiness answer of one server, refreshed by one caller at a time.

    For ``ttl`` seconds after an answer lands it is served as it is. After that, the first
    request starts one refresh in the background, and every request keeps getting the last
    answer until the refresh lands, as long as that answer landed less than ``ttl + max_stale``
    ago. A refresh takes at most about one check timeout, so with ``max_stale`` above that
    timeout a warm server never makes a request wait for the checks; an answer served this way
    describes checks that started at most ``ttl + max_stale`` before. With no answer yet, or one
    older than that, requests wait for a refresh, and requests arriving together share it: a
    herd of probes runs one round of checks, not one per request. ``ttl == 0`` runs the checks
    on every call.
    """

    def __init__(
        self,
        compute: Callable[[], ReadinessReport],
        ttl: float,
        max_stale: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._compute = compute
        self._ttl = ttl
        self._max_stale = max_stale
        self._clock = clock
        self._lock = threading.Lock()
        self._report: ReadinessReport | None = None
        self._landed_at = 0.0
        self._flight: Future[ReadinessReport] | None = None

    @property
    def last(self) -> ReadinessReport | None:
        """The latest answer, without running anything (``/metrics`` reads it)."""
        return self._report

    @property
    def refreshing(self) -> Future[ReadinessReport] | None:
        """The refresh in progress, if any."""
        return self._flight

    def get(self) -> ReadinessReport:
        if self._ttl <= 0:
            fresh = self._compute()
            self._report = fresh
            return fresh
        with self._lock:
            last, age = self._report, self._clock() - self._landed_at
            if last is not None and age < self._ttl:
                return last
            flight, owner = self._flight, self._flight is None
            if flight is None:
                flight = self._flight = Future()
        if last is not None and age < self._ttl + self._max_stale:
            if owner:
                self._refresh_in_background(flight)
            return last
        if owner:
            self._refresh(flight)
        return flight.result()

    def _refresh_in_background(self, flight: Future[ReadinessReport]) -> None:
        try:
            threading.Thread(
                target=self._refresh, args=(flight,), name="readiness-refresh", daemon=True
            ).start()
        except BaseException as exc:  # no thread to be had: the next caller tries again
            self._fail(flight, exc)

    def _refresh(self, flight: Future[ReadinessReport]) -> None:
        try:
            report = self._compute()
        except BaseException as exc:  # checks answer rather than raise; never strand waiters
            self._fail(flight, exc)
            return
        with self._lock:
            self._report, self._landed_at, self._flight = report, self._clock(), None
        flight.set_result(report)

    def _fail(self, flight: Future[ReadinessReport], exc: BaseException) -> None:
        with self._lock:
            self._flight = None
        flight.set_exception(exc)
        log.error("readiness refresh failed: %s: %s", type(exc).__name__, _first_line(exc))


def _first_line(exc: BaseException) -> str:
    """The gist of an error, without SQL, parameters or connection strings."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return text[:200]
