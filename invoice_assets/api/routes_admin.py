"""``/admin``: incidents, status changes, feedback, feedback stats, run summary, system health.

Every endpoint needs a bearer token of a configured operator (401 without, 403 for an unknown
one); the operator recorded with feedback comes from the token, never from the body.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from invoice_assets.api.errors import ApiError
from invoice_assets.domain.days import FIRST_DAY, LAST_DAY, DayError, local_day, parse_day
from invoice_assets.domain.feedback import (
    FeedbackError,
    feedback_stats,
    require_resolved,
    validate_feedback,
)
from invoice_assets.domain.incidents import MANUAL_RESOLVED
from invoice_assets.services.reporting import build_health_report
from resources.store import InvoiceStore
from resources.store.incidents import StatusConflict, TransitionRefused


async def operator(request: Request) -> str:
    """The operator of the bearer token (async: a hash and a comparison, no I/O, so it runs on
    the event loop instead of costing a thread-pool hop on every admin request)."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not header or scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "missing_token", "a bearer token is required")
    name = request.app.state.settings.operator_for(token.strip())
    if name is None:
        raise ApiError(403, "unknown_token", "the token does not belong to an operator")
    request.state.operator = name
    return name


router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Depends(operator)])
# Bounded to a 64-bit id: a larger number would overflow the database driver (a 500, not a 422).
IncidentId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The incident's id.")]


def _store(request: Request) -> InvoiceStore:
    return request.app.state.settings.store


def _day(value: str | None, name: str) -> str | None:
    """A strict ISO day in the accepted range (``domain.days``), else 400 ``invalid_date``."""
    if value is None:
        return None
    try:
        return parse_day(value, name).isoformat()
    except DayError as exc:
        raise ApiError(400, "invalid_date", str(exc)) from exc


def _incident_or_404(store: InvoiceStore, incident_id: int) -> dict[str, Any]:
    row = store.get_incident(incident_id)
    if row is None:
        raise ApiError(404, "incident_not_found", f"no incident {incident_id}")
    return row


def _now(request: Request) -> datetime:
    """The moment by the app's clock (``create_app(clock=...)``)."""
    now: datetime = request.app.state.clock.now()
    return now


@router.get("/incidents")
def list_incidents(
    request: Request,
    severity: Literal["S1", "S2"] | None = None,
    status: Literal["OPEN", "ACK", "RESOLVED"] | None = None,
    date_: str | None = Query(default=None, alias="date"),
    limit: int = Query(default=100, ge=1, le=1000),
) -> dict[str, Any]:
    rows = _store(request).list_incidents(
        severity=severity, status=status, day=_day(date_, "date"), limit=limit
    )
    return {"count": len(rows), "items": rows}


@router.get("/incidents/{incident_id}")
def get_incident(request: Request, incident_id: IncidentId) -> dict[str, Any]:
    """The incident with the evidence of its invoice's fields (personal data masked)."""
    store = _store(request)
    row = _incident_or_404(store, incident_id)
    return row | {"evidence": store.invoice_evidence(row["day"], row["invoice_key"])}


class StatusChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Literal["ACK", "RESOLVED"]
    # resolution_reason is VARCHAR(64); PostgreSQL text cannot hold NUL (both were 500s)
    reason: str | None = Field(default=None, max_length=64, pattern=r"^[^\x00]*$")


@router.post("/incidents/{incident_id}/status")
def change_status(request: Request, incident_id: IncidentId, body: StatusChange) -> dict[str, Any]:
    store = _store(request)
    row = _incident_or_404(store, incident_id)
    reason = (body.reason or MANUAL_RESOLVED) if body.status == "RESOLVED" else None
    try:  # one compare-and-set on the status just read: of concurrent changes, one wins
        updated = store.set_incident_status(
            incident_id, body.status, reason, _now(request), expected=row["status"]
        )
    except TransitionRefused as exc:
        raise ApiError(409, "invalid_status_transition", str(exc)) from exc
    except StatusConflict as exc:
        raise ApiError(409, "conflict", str(exc)) from exc
    if updated is None:
        raise ApiError(404, "incident_not_found", f"no incident {incident_id}")
    return updated


@router.patch("/incidents/{incident_id}/feedback")
async def put_feedback(request: Request, incident_id: IncidentId) -> dict[str, Any]:
    store = _store(request)
    try:
        body = json.loads(await request.body() or b"null")
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # too deep is not JSON either
        raise ApiError(400, "invalid_feedback_data", "body must be JSON") from exc
    row = store.get_incident(incident_id)
    try:
        require_resolved(None if row is None else row["status"])
        feedback = validate_feedback(body)
    except FeedbackError as exc:
        raise ApiError(exc.status, exc.code, exc.message) from exc
    try:  # written only while still RESOLVED (a rerun may have reopened it meanwhile)
        updated = store.put_feedback(incident_id, feedback, request.state.operator, _now(request))
    except StatusConflict as exc:
        raise ApiError(400, "incident_not_resolved", str(exc)) from exc
    if updated is None:
        raise ApiError(404, "incident_not_found", f"no incident {incident_id}")
    return updated


@router.get("/feedback-stats")
def get_feedback_stats(
    request: Request, start: str | None = None, end: str | None = None
) -> dict[str, Any]:
    first = _day(start, "start") or FIRST_DAY.isoformat()
    last = _day(end, "end") or LAST_DAY.isoformat()
    return feedback_stats(_store(request).incident_frame(first, last))


@router.get("/run-summary", response_model=dict[str, Any])
def get_run_summary(request: Request, start: str, end: str | None = None) -> JSONResponse:
    """The seed §6 document over inbox days [start, end] (end defaults to start); served from
    a cache until the store's next write (``api/summary_cache.py``)."""
    first = _day(start, "start")
    last = _day(end, "end") or first
    assert first is not None and last is not None
    if last < first:
        raise ApiError(400, "invalid_window", "end is before start")
    summaries = request.app.state.summaries
    document = summaries.get(_store(request), first, last, request.app.state.thresholds)
    return JSONResponse(document)  # plain JSON values already: no jsonable_encoder walk


@router.get("/system-health")
def get_system_health(
    request: Request, date_: str | None = Query(default=None, alias="date")
) -> dict[str, Any]:
    """The system health report for the 7 days ending at ``date`` (default: today, the inbox
    day in Istanbul)."""
    day = _day(date_, "date") or local_day(_now(request)).isoformat()
    return build_health_report(_store(request), day, request.app.state.thresholds)
