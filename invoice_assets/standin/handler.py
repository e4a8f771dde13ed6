"""The stand-in's HTTP side: the threaded server and the request handler behind ``StandIn``.

What it is for: routing ``POST /v1/responses``, ``GET /v1/models`` and ``GET /v1/_standin/counters``
(``?reset=1`` restarts ``max_in_flight`` from the requests in flight), the bearer-key check every
endpoint makes, reading the JSON body and writing JSON replies. A reply waits out the scripted
latency and is dropped without an answer if the stand-in stops meanwhile, as a dying API would.

Not for: the scripted state and counters (``StandIn`` in ``server.py``), the JSON the replies carry
(``responses.py``, ``answers.py``) or what a fault looks like (``faults.py``).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from invoice_assets.standin.answers import document_bytes
from invoice_assets.standin.faults import Behaviour, error_reply
from invoice_assets.standin.responses import error_object, model_list, response_object

if TYPE_CHECKING:
    from invoice_assets.standin.server import StandIn

COUNTERS_PATH = "/v1/_standin/counters"


class StandInServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    standin: StandIn


class StandInHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms stalls
    server: StandInServer

    def log_message(self, format: str, *args: Any) -> None:
        return  # quiet: tests capture logs and stderr

    # -- plumbing ---------------------------------------------------------------------------
    def _send(
        self,
        status: int,
        payload: Any,
        headers: Mapping[str, str] | None = None,
        drip_seconds: float = 0.0,
    ) -> None:
        """The reply; with ``drip_seconds`` > 0 (or the stand-in's ``drip_seconds``) the body
        follows the headers one byte at a time, until it is out, the client goes or the stand-in
        stops."""
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        drip = drip_seconds or self.server.standin.drip_seconds
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("x-request-id", f"req_{uuid.uuid4().hex[:24]}")
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            if drip <= 0:
                self.wfile.write(data)
                self.wfile.flush()
                return
            self.wfile.flush()
            for index in range(len(data)):
                if self.server.standin._stopping.wait(drip):
                    self.close_connection = True
                    return
                self.wfile.write(data[index : index + 1])
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, ValueError, OSError):
            self.close_connection = True  # the client gave up (timeout) or the server stopped

    def _error(
        self, status: int, message: str, kind: str, code: str | None, **headers: str
    ) -> None:
        self._send(status, error_object(message, kind, code), headers)

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
        self._send(200, model_list(standin.model))

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
        reply = error_reply(behaviour)
        if reply is not None:
            self._error(reply.status, reply.message, reply.kind, reply.code, **reply.headers)
        else:
            answer = self._response_object(standin, body, behaviour)
            self._send(200, answer, drip_seconds=behaviour.drip_seconds)

    def _response_object(
        self, standin: StandIn, body: dict[str, Any], behaviour: Behaviour
    ) -> dict[str, Any]:
        document = document_bytes(body)
        sha = hashlib.sha256(document).hexdigest()
        answer = behaviour.payload if behaviour.payload is not None else standin.answer_for(sha)
        return response_object(body, behaviour, answer, standin.model)
