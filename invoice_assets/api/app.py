"""The app factory: ``create_app(settings)`` wires routers, errors, auth and the request log."""

from __future__ import annotations

import logging
import time
from collections import Counter, defaultdict
from datetime import datetime

from fastapi import FastAPI, Request, Response
from starlette.concurrency import run_in_threadpool

from invoice_assets.api.errors import install_error_handlers
from invoice_assets.api.routes_admin import router as admin_router
from invoice_assets.api.routes_health import router as health_router
from invoice_assets.api.settings import ApiSettings
from invoice_assets.api.summary_cache import SummaryCache
from invoice_assets.kernel.clock import SYSTEM_CLOCK, Clock
from invoice_assets.services.readiness import ReadinessCache, readiness
from resources.thresholds import load_thresholds

log = logging.getLogger("invoice_assets.api")


class RequestStats:
    """In-process request counters and latency sums for ``/metrics``."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str, int]] = Counter()
        self.seconds: defaultdict[tuple[str, str], float] = defaultdict(float)

    def add(self, method: str, route: str, status: int, seconds: float) -> None:
        self.counts[(method, route, status)] += 1
        self.seconds[(method, route)] += seconds


def _log_request(
    settings: ApiSettings,
    method: str,
    path: str,
    status: int,
    duration_ms: float,
    operator: str | None,
    error_code: str | None,
    now: datetime,
) -> None:
    try:
        settings.store.log_request(method, path, status, duration_ms, operator, error_code, now)
    except Exception as exc:  # the log must never turn an answer into a failure
        log.warning("request log write failed: %s", type(exc).__name__)


def create_app(settings: ApiSettings, clock: Clock = SYSTEM_CLOCK) -> FastAPI:
    """A new app; thresholds are validated now, so a broken config refuses to start. ``clock``
    stamps what the app writes and says which day "today" is."""
    app = FastAPI(
        title="invoice_assets ops API",
        version="1",
        description="Readiness, metrics, incidents, feedback and run summaries.",
    )
    app.state.settings = settings
    app.state.clock = clock
    app.state.thresholds = load_thresholds(env=settings.env)
    app.state.stats = RequestStats()
    app.state.summaries = SummaryCache(clock=clock)
    app.state.readiness = ReadinessCache(
        lambda: readiness(
            settings.store,
            app.state.thresholds,
            openai_check=settings.openai_check,
            env=settings.env,
            timeout_seconds=settings.check_timeout_seconds,
            dagster_home=settings.dagster_home,
        ),
        ttl=settings.readiness_cache_seconds,
        # A refresh lasts at most about one check timeout; twice that leaves room for a busy
        # server, so warm requests never wait for the checks.
        max_stale=2 * settings.check_timeout_seconds,
    )
    # a server that cannot open its store does not start (the schema is ensured on the way)
    settings.store.ensure_schema()
    install_error_handlers(app)
    app.include_router(health_router)
    app.include_router(admin_router)

    @app.middleware("http")
    async def request_log(request: Request, call_next) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        elapsed = time.perf_counter() - started
        route = request.scope.get("route")
        template = getattr(route, "path", "unmatched")
        app.state.stats.add(request.method, template, response.status_code, elapsed)
        if settings.log_requests:
            # A database write: off the event loop, so slow storage never stalls other requests.
            await run_in_threadpool(
                _log_request,
                settings,
                request.method,
                request.url.path,
                response.status_code,
                elapsed * 1000.0,
                getattr(request.state, "operator", None),
                getattr(request.state, "error_code", None),
                clock.now(),
            )
        return response

    return app
