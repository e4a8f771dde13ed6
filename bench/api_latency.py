"""Benchmark 4 — ops API latency under a paced load, against the real server process.

Starts ``python -m invoice_assets.cli serve --port P`` (uvicorn, one worker; a store under a
scratch INVOICE_HOME holding a few evaluated days, a tokens file with one operator), then offers
~200 requests/s for 20 s to ``/health/ready`` and to ``/admin/run-summary?start=<day>`` (a
2,000-invoice day): on SQLite; on SQLite while this process stores feedback every 0.5 s (each
write moves the store's last-write marker, so the server's summary cache recomputes); and on
PostgreSQL.

Load generator: an open-loop schedule (request i is due at t0 + i/rate) served by a pool of
threads with one keep-alive ``httpx.Client`` each, on 127.0.0.1 only. Bounded in count (rate ×
duration) and in time (no request starts after duration + 5 s grace; each has a 5 s timeout, so a
latency of ~5 000 ms means "timed out", counted as status 0). Each endpoint gets a fresh server
process. Reported: the unloaded latency (one client, back to back, 3 s), then under the paced load
the achieved rate (2xx answers / elapsed), status counts, p50/p90/p99/max of the service latency
(send → answer) and of the schedule latency (due time → answer, what a client pacing at that
rate sees), and how long the endpoint takes to answer 200 again afterwards. Target for every
scenario: p99 ≤ 50 ms at 200 req/s. When /health/ready fails under load, ``readiness()`` is
also called from 1, 2, 4 and 8 threads in this process to show where it breaks.

    .venv/bin/python -m bench.api_latency [--quick] [--workers N] [--out result.json]

The load generator shares the 2 cores with the server: its thread count shows in the tail (see
bench/README.md, section 4); ``--workers`` changes it (default 8).
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.common import ROOT, cli, metric, record, scratch_dir

NAME = "api_latency"
TARGET_P99_MS = 50.0
RATE = 200.0
DURATION_S = 20.0
GRACE_S = 5.0
WORKERS = 8  # enough for 200 req/s up to 40 ms each; more threads inflate the tail on 2 cores
TIMEOUT_S = 5.0
TOKEN = "bench-token-not-a-secret"
DAYS = ["2025-06-02", "2025-06-03", "2025-06-04"]
PER_DAY = 2_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of ``values``; NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def paced_load(
    url: str, headers: dict[str, str], rate: float, duration: float, workers: int = WORKERS
) -> dict[str, Any]:
    """Offer ``rate`` requests/s for ``duration`` s; one result row per request sent."""
    import httpx

    total = int(rate * duration)
    counter = itertools.count()
    lock = threading.Lock()
    rows: list[tuple[float, float, int]] = []  # (service s, schedule s, status)
    start = time.perf_counter() + 0.2
    stop_at = start + duration + GRACE_S

    def worker() -> None:
        client = httpx.Client(timeout=TIMEOUT_S, headers=headers)
        try:
            while True:
                with lock:
                    i = next(counter)
                if i >= total:
                    return
                due = start + i / rate
                now = time.perf_counter()
                if now >= stop_at:
                    return
                if due > now:
                    time.sleep(due - now)
                sent = time.perf_counter()
                try:
                    status = client.get(url).status_code
                except httpx.HTTPError:
                    status = 0
                done = time.perf_counter()
                with lock:
                    rows.append((done - sent, done - due, status))
        finally:
            client.close()

    with ThreadPoolExecutor(workers) as pool:
        for _ in range(workers):
            pool.submit(worker)
    elapsed = max(time.perf_counter() - start, 1e-9)
    service = [r[0] * 1000.0 for r in rows]
    schedule = [r[1] * 1000.0 for r in rows]
    ok = [r for r in rows if 200 <= r[2] < 300]
    return {
        "offered_rate": rate,
        "offered_requests": total,
        "sent": len(rows),
        "elapsed_s": round(elapsed, 2),
        "achieved_rate": round(len(ok) / elapsed, 1),
        "status": dict(Counter(str(r[2]) for r in rows)),
        "service_ms": {q: round(percentile(service, v), 2) for q, v in _QS},
        "schedule_ms": {q: round(percentile(schedule, v), 2) for q, v in _QS},
    }


_QS = (("p50", 50), ("p90", 90), ("p99", 99), ("max", 100))


def closed_loop(url: str, headers: dict[str, str], clients: int, seconds: float) -> dict[str, Any]:
    """``clients`` back-to-back requesters for ``seconds``: the endpoint's capacity."""
    import httpx

    done: list[float] = []
    lock = threading.Lock()
    end = time.perf_counter() + seconds

    def worker() -> None:
        with httpx.Client(timeout=TIMEOUT_S, headers=headers) as client:
            while time.perf_counter() < end:
                t0 = time.perf_counter()
                try:
                    ok = client.get(url).status_code == 200
                except httpx.HTTPError:
                    ok = False
                if ok:
                    with lock:
                        done.append(time.perf_counter() - t0)

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        for _ in range(clients):
            pool.submit(worker)
    elapsed = time.perf_counter() - started
    latencies = [d * 1000.0 for d in done]
    return {
        "clients": clients,
        "requests": len(done),
        "requests_per_s": round(len(done) / elapsed, 1),
        "p50_ms": round(percentile(latencies, 50), 2),
    }


def recovery(url: str, headers: dict[str, str], limit: float = 15.0) -> float | None:
    """Seconds after the load until the endpoint answers 200 within 1 s again (None: not in
    ``limit`` seconds)."""
    import httpx

    started = time.perf_counter()
    while time.perf_counter() - started < limit:
        try:
            if httpx.get(url, headers=headers, timeout=1.0).status_code == 200:
                return round(time.perf_counter() - started, 2)
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return None


def readiness_probe(store: Any) -> dict[str, Any]:
    """``services.readiness.readiness`` called from k threads at once, in this process: wall
    seconds and how many calls came back ready (diagnoses the server result)."""
    from invoice_assets.services.readiness import readiness
    from resources.thresholds import load_thresholds

    t = load_thresholds()
    out = {}
    for k in (1, 2, 4, 8):

        def one(_: int) -> tuple[float, bool]:
            t0 = time.perf_counter()
            report = readiness(store, t)
            return time.perf_counter() - t0, report.ready

        with ThreadPoolExecutor(k) as pool:
            results = list(pool.map(one, range(2 * k)))
        out[f"{k}_concurrent"] = {
            "calls": len(results),
            "ready": sum(r for _, r in results),
            "max_s": round(max(s for s, _ in results), 3),
        }
    return out


def start_server(
    home: Path, tokens: Path, port: int, log: Path, db_url: str | None = None
) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INVOICE_", "OPENAI_"))}
    env |= {"INVOICE_HOME": str(home), "INVOICE_OPS_TOKENS_FILE": str(tokens)}
    if db_url:
        env["INVOICE_DB_URL"] = db_url
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "invoice_assets.cli", "serve", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def wait_ready(base: str, process: subprocess.Popen, timeout: float = 60.0) -> float:
    import httpx

    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if httpx.get(f"{base}/health", timeout=1.0).status_code == 200:
                return time.perf_counter() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError("server did not answer /health within 60 s")


class FeedbackWriter:
    """An analyst storing feedback on a resolved incident every ``interval`` seconds, from this
    process (a second process to the server): each write moves the store's last-write marker,
    so the server's run-summary cache must recompute after it."""

    def __init__(self, store: Any, day: str, interval: float = 0.5) -> None:
        (incident,) = store.list_incidents(status="RESOLVED", day=day, limit=1)
        self.store, self.incident_id, self.interval = store, incident["incident_id"], interval
        self.writes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        from invoice_assets.domain.feedback import validate_feedback
        from invoice_assets.kernel.clock import SYSTEM_CLOCK

        while not self._stop.wait(self.interval):
            body = {
                "action_taken": "VERIFIED_LOGIC",
                "was_hint_correct": self.writes % 2 == 0,
                "resolution_time_seconds": float(self.writes),
            }
            self.store.put_feedback(
                self.incident_id, validate_feedback(body), "bench-writer", SYSTEM_CLOCK.now()
            )
            self.writes += 1

    def __enter__(self) -> FeedbackWriter:
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def measure(
    label: str,
    url: str,
    headers: dict[str, str],
    server: subprocess.Popen,
    duration: float,
    unloaded_s: float,
    workers: int,
    details: dict[str, Any],
    writer: FeedbackWriter | None = None,
) -> dict[str, Any]:
    """Unloaded latency, then the paced load (with ``writer`` writing meanwhile), into
    ``details[label]``; the metrics of ``label``."""
    import httpx

    base = url.split("/", 3)
    details[f"{label}_server_start_s"] = round(wait_ready("/".join(base[:3]), server), 2)
    for _ in range(10):  # warm-up: imports, connection pools, caches
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(url, headers=headers, timeout=TIMEOUT_S)
    details[f"{label}_unloaded"] = closed_loop(url, headers, 1, unloaded_s)
    with writer or contextlib.nullcontext():
        res = paced_load(url, headers, RATE, duration, workers)
    if writer is not None:
        res["store_writes_during_load"] = writer.writes
    res["recovery_s"] = recovery(url, headers)
    details[label] = res
    return {
        f"{label}_unloaded_p50_ms": metric(details[f"{label}_unloaded"]["p50_ms"], "ms", "lower"),
        f"{label}_p50_ms": metric(res["service_ms"]["p50"], "ms", "lower"),
        f"{label}_p99_ms": metric(res["service_ms"]["p99"], "ms", "lower", TARGET_P99_MS),
        f"{label}_achieved_rate": metric(res["achieved_rate"], "req/s", "higher", RATE),
        f"{label}_ok_pct": metric(
            100.0 * res["status"].get("200", 0) / max(res["sent"], 1), "%", "higher"
        ),
    }


def run(quick: bool = False, workers: int = WORKERS) -> dict[str, Any]:
    from bench.common import postgres_database
    from bench.store_data import load_days
    from resources.market_data import load_market_data
    from resources.store import InvoiceStore
    from resources.thresholds import load_thresholds

    started = time.perf_counter()
    duration = 3.0 if quick else DURATION_S
    unloaded = 1.0 if quick else 3.0  # seconds of back-to-back requests before the load
    per_day = 500 if quick else PER_DAY
    metrics: dict[str, Any] = {}
    details: dict[str, Any] = {"rate": RATE, "duration_s": duration, "workers": workers}
    notes: list[str] = []
    with scratch_dir(NAME) as work, postgres_database() as pg_url:
        home = work / "home"
        stores = {"sqlite": InvoiceStore(home=str(home)), "postgresql": InvoiceStore(db_url=pg_url)}
        for backend, store in stores.items():
            t0 = time.perf_counter()
            loaded = load_days(store, DAYS, per_day, load_market_data(), load_thresholds(), seed=5)
            details[f"store_{backend}"] = {
                **loaded,
                "days": DAYS,
                "load_s": round(time.perf_counter() - t0, 1),
            }
        tokens = work / "tokens.yaml"
        digest = hashlib.sha256(TOKEN.encode()).hexdigest()
        tokens.write_text(f"operators:\n  - name: bench\n    token_sha256: {digest}\n", "utf-8")
        auth = {"Authorization": f"Bearer {TOKEN}"}
        summary = f"/admin/run-summary?start={DAYS[-1]}"
        # label → (path, headers, backend, a writer during the load)
        targets = {
            "health_ready": ("/health/ready", {}, "sqlite", False),
            "run_summary": (summary, auth, "sqlite", False),
            "run_summary_with_writes": (summary, auth, "sqlite", True),
            "run_summary_postgres": (summary, auth, "postgresql", False),
        }
        for label, (path, headers, backend, writes) in targets.items():
            # A fresh server per endpoint, so one endpoint's backlog cannot slow the next.
            port = free_port()
            log = work / f"server-{label}.log"
            db_url = pg_url if backend == "postgresql" else None
            server = start_server(home, tokens, port, log, db_url)
            try:
                writer = FeedbackWriter(stores[backend], DAYS[-1]) if writes else None
                url = f"http://127.0.0.1:{port}{path}"
                metrics |= measure(
                    label, url, headers, server, duration, unloaded, workers, details, writer
                )
            finally:
                server.terminate()
                try:
                    server.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    server.kill()
                    server.wait()
            details[f"{label}_server_log_tail"] = log.read_text("utf-8", "replace").splitlines()[
                -3:
            ]
        if details["health_ready"]["status"].get("200", 0) < details["health_ready"]["sent"]:
            details["readiness_in_process_probe"] = readiness_probe(stores["sqlite"])
    notes.append(
        f"stores: {len(DAYS)} days x {per_day} invoices (SQLite; PostgreSQL for "
        f"run_summary_postgres); run-summary window = 1 day; open loop {RATE:g} req/s for "
        f"{duration:g} s per endpoint, {workers} client threads; run_summary_with_writes: "
        "feedback stored every 0.5 s by the benchmark process during the load"
    )
    return record(NAME, started, metrics, details, notes)


def _extra(parser: Any) -> None:
    parser.add_argument(
        "--workers",
        type=int,
        default=WORKERS,
        help=f"client threads of the load generator (default {WORKERS})",
    )


def main() -> None:
    cli(NAME, run, _extra)


if __name__ == "__main__":
    main()
