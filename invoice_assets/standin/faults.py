"""The stand-in's scripted behaviours: what each queued fault turns a ``/v1/responses`` reply into.

What it is for: one place that says how a fault looks on the wire, so a test that scripts
``rate_limit``, ``server_error``, ``unauthorized``, ``truncated``, ``refusal`` or ``drip`` gets what
the real API (or a sick proxy in front of it) sends in that case; ``drip`` is a 200 reply whose
headers go out at once and whose body follows one byte every ``drip_seconds``. ``Behaviour`` is
one queued entry; ``error_reply`` is the error a fault answers with instead of a response (429
with ``Retry-After`` and ``retry-after-ms``, a 5xx, a 401 for a revoked key); ``answer_output``
is the message content of a 200 reply (the answer text, cut in half and ``incomplete`` when
truncated, or a refusal).

Not for: queueing behaviours or the latency (``StandIn`` in ``server.py``), the key check every
endpoint makes (``handler.py``), or the response object around the content (``responses.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Behaviour:
    kind: str  # answer | rate_limit | server_error | truncated | refusal | unauthorized | drip
    status: int = 200
    retry_after: float = 0.0
    payload: Any = None
    drip_seconds: float = 0.0  # > 0: the body goes out one byte at a time, this far apart


@dataclass(frozen=True)
class ErrorReply:
    """An OpenAI error reply: the HTTP status, the error object's fields and extra headers."""

    status: int
    message: str
    kind: str
    code: str | None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AnswerOutput:
    """The message content of a 200 reply, the text it counts as, and the response status."""

    content: dict[str, Any]
    text: str
    status: str = "completed"
    incomplete: dict[str, Any] | None = None


def error_reply(behaviour: Behaviour) -> ErrorReply | None:
    """The error this behaviour answers with, or None when it answers 200 with a response."""
    seconds = max(behaviour.retry_after, 0.0)
    retry = {"Retry-After": f"{seconds:g}", "retry-after-ms": f"{seconds * 1000:g}"}
    if behaviour.kind == "rate_limit":
        return ErrorReply(
            429,
            "Rate limit reached for requests. Please try again later.",
            "requests",
            "rate_limit_exceeded",
            retry,
        )
    if behaviour.kind == "server_error":
        return ErrorReply(
            behaviour.status,
            "The server had an error while processing your request.",
            "server_error",
            None,
            retry if seconds else {},
        )
    if behaviour.kind == "unauthorized":
        return ErrorReply(401, "This API key was revoked.", "invalid_request_error", "revoked")
    return None


def answer_output(behaviour: Behaviour, text: str) -> AnswerOutput:
    """The content a 200 reply carries for this behaviour, given the answer's JSON text."""
    if behaviour.kind == "refusal":
        refusal = "I'm sorry, I can't help with that."
        return AnswerOutput({"type": "refusal", "refusal": refusal}, refusal)
    if behaviour.kind == "truncated":
        text = text[: len(text) // 2]
        return AnswerOutput(_output_text(text), text, "incomplete", {"reason": "max_output_tokens"})
    return AnswerOutput(_output_text(text), text)


def _output_text(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
