"""The stand-in server: the OpenAI Responses wire format on 127.0.0.1, with scripted behaviour.

What it is for: running the real ``openai`` client and the real extractor code offline (tests, the
demo, benchmarks). ``POST /v1/responses`` answers with a Responses API object whose ``output_text``
is the JSON answer for the uploaded document; ``GET /v1/models`` lists one model and, like every
endpoint, returns 401 unless the bearer token is the configured key.

Which answer: the server decodes the uploaded file (``input_file.file_data`` or
``input_image.image_url`` data URL), takes its sha256 and looks it up in ``answers`` (a dict
sha256 → answer) and then in ``answers_dir/<sha256>.json`` (recorded answers); otherwise it builds
a deterministic default answer whose invoice number derives from the sha256, so different documents
never share an invoice key. An answer may be given in the extractor's answer shape or as an
extraction record (SPEC §4.1); records are completed to the answer shape (missing fields null).

Scripted behaviours are queued and consumed one per ``/v1/responses`` request, in order:
``rate_limit(n)``, ``server_error(n)``, ``truncated()``, ``refusal()``, ``unauthorized()``,
``answer(obj)``; ``slow(seconds)`` sets a latency applied to every later request until changed.
Counters: ``calls`` (``/v1/responses`` requests), ``model_calls``, ``in_flight``,
``max_in_flight``; ``requests`` keeps the JSON bodies seen (never the Authorization header).
A stand-in in another process serves its counters at ``GET /v1/_standin/counters`` (with
``?reset=1``, ``max_in_flight`` restarts from the requests in flight).

Not for: production traffic, or checking what the real model would read from a document.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import signal
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from invoice_assets.domain.records import META_FIELDS, NUMERIC_FIELDS

DEFAULT_KEY = "sk-standin-local"
DEFAULT_MODEL = "gpt-4o-2024-08-06"
_LINE_FIELDS = ("label", "qty", "unit", "unit_price", "amount_tl", "confidence")


def default_answer(sha256: str) -> dict[str, Any]:
    """A plausible, internally consistent answer for a document with this sha256."""
    kwh, price, dist = 10_000.0, 3.0, 0.61
    energy, distribution = kwh * price, kwh * dist
    btv = round(energy * 0.01, 2)
    vat = round((energy + distribution + btv) * 0.2, 2)
    total = round(energy + distribution + btv + vat, 2)
    values = {
        "consumption_kwh": kwh,
        "current_active_unit_price_tl_per_kwh": price,
        "distribution_unit_price_tl_per_kwh": dist,
        "demand_qty": None,
        "demand_unit_price_tl_per_unit": None,
        "invoice_total_with_vat_tl": total,
        "energy_total_tl": energy,
        "distribution_total_tl": distribution,
        "btv_tl": btv,
        "vat_tl": vat,
        "yek_amount_tl": None,
        "payable_tl": total,
    }
    extraction = {
        name: {
            "value": value,
            "confidence": 0.0 if value is None else 0.95,
            "evidence": None if value is None else f"{name}: {value}",
            "page": None if value is None else 1,
        }
        for name, value in values.items()
    }
    return {
        "invoice": {
            "invoice_no": f"SI{sha256[:12].upper()}",
            "ettn": None,
            "supplier": "Stand-in Elektrik Perakende A.Ş.",
            "invoice_date": "2025-02-03",
            "invoice_period": "2025-01",
            "tariff_group": "sanayi",
            "voltage_level": "OG",
            "tariff_term": "tek_terim",
        },
        "extraction": extraction,
        "line_items": [
            {
                "label": "Aktif Enerji Bedeli",
                "qty": kwh,
                "unit": "kWh",
                "unit_price": price,
                "amount_tl": energy,
                "confidence": 0.95,
            },
            {
                "label": "Dağıtım Bedeli",
                "qty": kwh,
                "unit": "kWh",
                "unit_price": dist,
                "amount_tl": distribution,
                "confidence": 0.95,
            },
        ],
    }


def to_answer(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The answer shape (every key present) of an answer or an extraction record (SPEC §4.1).

    Values are kept as given, so a recorded answer with a bad value reaches the client unchanged.
    """
    invoice = dict(obj.get("invoice") or {})
    extraction = dict(obj.get("extraction") or {})
    fields = {}
    for name in NUMERIC_FIELDS:
        given = extraction.get(name) or {}
        fields[name] = {
            "value": given.get("value"),
            "confidence": given.get("confidence", 0.0),
            "evidence": given.get("evidence"),
            "page": given.get("page"),
        }
    lines = [
        {key: line.get(key, 0.0 if key == "confidence" else None) for key in _LINE_FIELDS}
        for line in obj.get("line_items") or []
    ]
    return {
        "invoice": {name: invoice.get(name) for name in META_FIELDS},
        "extraction": fields,
        "line_items": lines,
    }


COUNTERS_PATH = "/v1/_standin/counters"


@dataclass(frozen=True)
class _Behaviour:
    kind: str  # answer | rate_limit | server_error | truncated | refusal | unauthorized
    status: int = 200
    retry_after: float = 0.0
    payload: Any = None


class StandIn:
    """The stand-in server, started in a daemon thread on an ephemeral port (a context manager)."""

    def __init__(
        self,
        *,
        api_key: str = DEFAULT_KEY,
        model: str = DEFAULT_MODEL,
        answers: Mapping[str, Mapping[str, Any]] | None = None,
        answers_dir: str | Path | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.api_key = api_key
        self.model = model
        self.host = host
        self.answers: dict[str, Mapping[str, Any]] = dict(answers or {})
        self.answers_dir = Path(answers_dir) if answers_dir is not None else None
        self.latency = 0.0
        self.calls = 0
        self.model_calls = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.requests: list[dict[str, Any]] = []
        self._script: deque[_Behaviour] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = _Server((host, port), _Handler)
        self._server.standin = self
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="openai-standin",
            daemon=True,
        )
        self._thread.start()

    # -- lifecycle --------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        return f"http://{host}:{self.port}/v1"

    def stop(self) -> None:
        """Stop serving; sleeping requests wake up and their connections are closed."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> StandIn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- scripting --------------------------------------------------------------------------
    def _queue(self, behaviour: _Behaviour, n: int) -> StandIn:
        with self._lock:
            self._script.extend([behaviour] * n)
        return self

    def answer(self, obj: Mapping[str, Any], n: int = 1) -> StandIn:
        """The next ``n`` requests get this answer (or record), whatever the document."""
        return self._queue(_Behaviour("answer", payload=to_answer(obj)), n)

    def answer_raw(self, obj: Any, n: int = 1) -> StandIn:
        """The next ``n`` requests get exactly this JSON value as the output text."""
        return self._queue(_Behaviour("answer", payload=obj), n)

    def rate_limit(self, n: int, retry_after: float = 0.0) -> StandIn:
        """The next ``n`` requests get 429 with ``Retry-After`` (and ``retry-after-ms``)."""
        return self._queue(_Behaviour("rate_limit", 429, retry_after), n)

    def server_error(self, n: int, status: int = 500, retry_after: float = 0.0) -> StandIn:
        """The next ``n`` requests get ``status``; ``retry_after`` > 0 adds the headers."""
        return self._queue(_Behaviour("server_error", status, retry_after), n)

    def truncated(self, n: int = 1) -> StandIn:
        """The answer text cut in half, status ``incomplete`` (max_output_tokens)."""
        return self._queue(_Behaviour("truncated"), n)

    def refusal(self, n: int = 1) -> StandIn:
        return self._queue(_Behaviour("refusal"), n)

    def unauthorized(self, n: int = 1) -> StandIn:
        """401 even with the right key (e.g. a key revoked mid-run)."""
        return self._queue(_Behaviour("unauthorized", 401), n)

    def slow(self, seconds: float) -> StandIn:
        """Every later request waits ``seconds`` before answering (0 turns it off)."""
        self.latency = float(seconds)
        return self

    def reset(self) -> None:
        """Forget the script, the latency and the counters."""
        with self._lock:
            self._script.clear()
            self.latency = 0.0
            self.calls = self.model_calls = self.max_in_flight = 0
            self.requests.clear()

    # -- request side -----------------------------------------------------------------------
    def _next_behaviour(self) -> _Behaviour:
        with self._lock:
            return self._script.popleft() if self._script else _Behaviour("answer")

    def _enter(self, body: dict[str, Any]) -> None:
        with self._lock:
            self.calls += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.requests.append(body)

    def _leave(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def _wait(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)

    def answer_for(self, sha256: str) -> dict[str, Any]:
        """The answer for a document: ``answers``, then ``answers_dir``, then the default."""
        if sha256 in self.answers:
            return to_answer(self.answers[sha256])
        if self.answers_dir is not None:
            path = self.answers_dir / f"{sha256}.json"
            if path.is_file():
                return to_answer(json.loads(path.read_text(encoding="utf-8")))
        return default_answer(sha256)


def document_bytes(body: Mapping[str, Any]) -> bytes:
    """The first uploaded document in a Responses request body (empty if there is none)."""
    for content in _content_items(body):
        kind = content.get("type")
        url = None
        if kind == "input_file":
            url = content.get("file_data")
        elif kind == "input_image":
            url = content.get("image_url")
        if isinstance(url, str) and url.startswith("data:") and "," in url:
            try:
                return base64.b64decode(url.split(",", 1)[1], validate=True)
            except (binascii.Error, ValueError):
                return b""
    return b""


def _content_items(body: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    items = body.get("input")
    if not isinstance(items, list):
        return
    for message in items:
        if isinstance(message, Mapping) and isinstance(message.get("content"), list):
            for content in message["content"]:
                if isinstance(content, Mapping):
                    yield content


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    standin: StandIn


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms stalls
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return  # quiet: tests capture logs and stderr

    # -- plumbing ---------------------------------------------------------------------------
    def _send(self, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("x-request-id", f"req_{uuid.uuid4().hex[:24]}")
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, ValueError, OSError):
            self.close_connection = True  # the client gave up (timeout) or the server stopped

    def _error(
        self, status: int, message: str, kind: str, code: str | None, **headers: str
    ) -> None:
        body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
        self._send(status, body, headers)

    def _authorized(self) -> bool:
        standin = self.server.standin
        header = self.headers.get("Authorization", "")
        token = header[7:] if header.startswith("Bearer ") else ""
        if token == standin.api_key:
            return True
        # Like the real API this names the key it got; the extractor must never pass it on.
        self._error(
            401,
            f"Incorrect API key provided: {token}. You can find your API key at the stand-in.",
            "invalid_request_error",
            "invalid_api_key",
        )
        return False

    def _read_body(self) -> dict[str, Any] | None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._error(400, "We could not parse the JSON body.", "invalid_request_error", None)
            return None
        if not isinstance(body, dict):
            self._error(400, "The body must be a JSON object.", "invalid_request_error", None)
            return None
        return body

    # -- endpoints --------------------------------------------------------------------------
    def do_GET(self) -> None:
        standin = self.server.standin
        if self.path.split("?")[0].rstrip("/") == COUNTERS_PATH:
            if self._authorized():
                with standin._lock:
                    counters = {
                        "calls": standin.calls,
                        "in_flight": standin.in_flight,
                        "max_in_flight": standin.max_in_flight,
                    }
                    if self.path.endswith("?reset=1"):
                        standin.max_in_flight = standin.in_flight
                self._send(200, counters)
            return
        if self.path.rstrip("/") != "/v1/models":
            self._error(404, f"Unknown path {self.path}", "invalid_request_error", None)
            return
        with standin._lock:
            standin.model_calls += 1
        if not self._authorized():
            return
        model = {"id": standin.model, "object": "model", "created": 1_722_902_400, "owned_by": "s"}
        self._send(200, {"object": "list", "data": [model]})

    def do_POST(self) -> None:
        standin = self.server.standin
        if self.path.rstrip("/") != "/v1/responses":
            self._error(404, f"Unknown path {self.path}", "invalid_request_error", None)
            return
        body = self._read_body()
        if body is None:
            return
        standin._enter(body)
        try:
            self._respond(standin, body)
        finally:
            standin._leave()

    def _respond(self, standin: StandIn, body: dict[str, Any]) -> None:
        if not self._authorized():
            return
        behaviour = standin._next_behaviour()
        standin._wait(standin.latency)
        if standin._stopping.is_set():
            self.close_connection = True
            return
        seconds = max(behaviour.retry_after, 0.0)
        retry = {"Retry-After": f"{seconds:g}", "retry-after-ms": f"{seconds * 1000:g}"}
        if behaviour.kind == "rate_limit":
            self._error(
                429,
                "Rate limit reached for requests. Please try again later.",
                "requests",
                "rate_limit_exceeded",
                **retry,
            )
        elif behaviour.kind == "server_error":
            self._error(
                behaviour.status,
                "The server had an error while processing your request.",
                "server_error",
                None,
                **(retry if seconds else {}),
            )
        elif behaviour.kind == "unauthorized":
            self._error(401, "This API key was revoked.", "invalid_request_error", "revoked")
        else:
            self._send(200, self._response_object(standin, body, behaviour))

    def _response_object(
        self, standin: StandIn, body: dict[str, Any], behaviour: _Behaviour
    ) -> dict[str, Any]:
        document = document_bytes(body)
        sha = hashlib.sha256(document).hexdigest()
        answer = behaviour.payload if behaviour.payload is not None else standin.answer_for(sha)
        text = json.dumps(answer, ensure_ascii=False)
        status, incomplete = "completed", None
        content: dict[str, Any]
        if behaviour.kind == "refusal":
            content = {"type": "refusal", "refusal": "I'm sorry, I can't help with that."}
            text = content["refusal"]
        elif behaviour.kind == "truncated":
            text = text[: len(text) // 2]
            status, incomplete = "incomplete", {"reason": "max_output_tokens"}
            content = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
        else:
            content = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
        input_tokens = 200 + len(json.dumps(body)) // 4
        output_tokens = max(1, len(text) // 4)
        now = int(time.time())
        return {
            "id": f"resp_{uuid.uuid4().hex}",
            "object": "response",
            "created_at": now,
            "completed_at": now if status == "completed" else None,
            "status": status,
            "background": False,
            "error": None,
            "incomplete_details": incomplete,
            "instructions": body.get("instructions"),
            "max_output_tokens": body.get("max_output_tokens"),
            "max_tool_calls": None,
            "model": body.get("model") or standin.model,
            "output": [
                {
                    "type": "message",
                    "id": f"msg_{uuid.uuid4().hex}",
                    "status": status,
                    "role": "assistant",
                    "content": [content],
                }
            ],
            "parallel_tool_calls": True,
            "previous_response_id": None,
            "reasoning": {"effort": None, "summary": None},
            "service_tier": "default",
            "store": bool(body.get("store", False)),
            "temperature": body.get("temperature", 1.0),
            "text": body.get("text") or {"format": {"type": "text"}},
            "tool_choice": "auto",
            "tools": [],
            "top_logprobs": 0,
            "top_p": 1.0,
            "truncation": "disabled",
            "usage": {
                "input_tokens": input_tokens,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": output_tokens,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": input_tokens + output_tokens,
            },
            "user": None,
            "metadata": {},
        }


def main(argv: list[str] | None = None) -> int:
    """Serve until interrupted: ``python -m invoice_assets.standin --port P --answers DIR``."""
    parser = argparse.ArgumentParser(prog="python -m invoice_assets.standin", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="TCP port (0: pick a free one)")
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind")
    parser.add_argument("--answers", default=None, help="directory of recorded <sha256>.json")
    parser.add_argument("--api-key", default=DEFAULT_KEY, help="the bearer token to accept")
    parser.add_argument("--model", default=DEFAULT_MODEL, help="the model /v1/models lists")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    args = parser.parse_args(argv)
    standin = StandIn(
        api_key=args.api_key,
        model=args.model,
        answers_dir=args.answers,
        host=args.host,
        port=args.port,
    ).slow(args.latency)
    print(f"OpenAI stand-in on {standin.base_url} (Ctrl-C to stop)", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        standin.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
