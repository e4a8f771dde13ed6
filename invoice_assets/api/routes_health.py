"""``/health``, ``/health/ready`` and ``/metrics`` (no authentication)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse

router = APIRouter(tags=["health"])


@router.get("/health")
def health() -> dict[str, str]:
    """Alive: the process serves requests."""
    return {"status": "ok"}


@router.get("/health/ready")
def ready(request: Request) -> JSONResponse:
    """Ready: database, config, OpenAI and queue checks; 503 if any is in error."""
    report = request.app.state.readiness.get()
    return JSONResponse(report.as_dict(), status_code=200 if report.ready else 503)


def _line(name: str, value: float, **labels: object) -> str:
    rendered = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return f"{name}{{{rendered}}} {value}" if labels else f"{name} {value}"


@router.get("/metrics", response_class=PlainTextResponse)
def metrics(request: Request) -> PlainTextResponse:
    """Prometheus text format."""
    store = request.app.state.settings.store
    out = [
        "# HELP invoice_invoices_total Invoices extracted (all days).",
        "# TYPE invoice_invoices_total gauge",
        _line("invoice_invoices_total", store.count_rows("extractions")),
        "# HELP invoice_incidents Incidents by severity and status.",
        "# TYPE invoice_incidents gauge",
    ]
    for (severity, status), count in sorted(store.incident_counts().items()):
        out.append(_line("invoice_incidents", count, severity=severity, status=status))
    queue = store.queue_state(request.app.state.thresholds.Recovery.STUCK_MINUTES)
    out += [
        "# HELP invoice_queue_depth Inbox files received or processing.",
        "# TYPE invoice_queue_depth gauge",
        _line("invoice_queue_depth", queue["current_depth"]),
        "# HELP invoice_check_ok Last readiness result per check (1 ok, 0 not).",
        "# TYPE invoice_check_ok gauge",
    ]
    last = request.app.state.readiness.last
    if last is not None:
        for name, check in last.checks.items():
            out.append(_line("invoice_check_ok", int(check.status != "error"), check=name))
    summaries = request.app.state.summaries
    out += [
        "# HELP invoice_run_summary_cache_total Run summaries served from the cache or computed.",
        "# TYPE invoice_run_summary_cache_total counter",
        _line("invoice_run_summary_cache_total", summaries.hits, result="hit"),
        _line("invoice_run_summary_cache_total", summaries.misses, result="miss"),
    ]
    stats = request.app.state.stats
    out += [
        "# HELP invoice_http_requests_total Requests served.",
        "# TYPE invoice_http_requests_total counter",
    ]
    for (method, route, status), count in sorted(stats.counts.items()):
        out.append(
            _line("invoice_http_requests_total", count, method=method, route=route, status=status)
        )
    out += [
        "# HELP invoice_http_request_seconds_sum Time spent serving requests.",
        "# TYPE invoice_http_request_seconds_sum counter",
    ]
    for (method, route), seconds in sorted(stats.seconds.items()):
        out.append(
            _line("invoice_http_request_seconds_sum", round(seconds, 6), method=method, route=route)
        )
    return PlainTextResponse("\n".join(out) + "\n", media_type="text/plain; version=0.0.4")
