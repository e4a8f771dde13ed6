"""Serving the ops API with uvicorn, bounded against slow and malformed clients.

uvicorn answers some requests itself, before the app sees them, in plain text; and it arms no
timer while a request is being read, so a client that opens a connection and drips its headers
a byte a second holds it for as long as it likes. ``protocol_class`` wraps uvicorn's HTTP
protocol (httptools when installed, else h11) so that:

* its own 400 (an unparsable request line or headers, an oversized URL or header block, a
  malformed chunked body) carries the API's error body ``{"detail": {"code", "message"}}`` as
  JSON, code ``invalid_http_request``;
* a request must be read completely (request line, headers and body) within
  ``request_timeout`` seconds of the connection opening or of the previous response on it, else
  the client gets 408 ``request_timeout`` (JSON) and the connection is closed; a connection that
  sent nothing in that time is closed quietly (as uvicorn closes an idle keep-alive connection
  after ``timeout_keep_alive``, 5 s); the time the app takes to answer does not count;
* the request line and headers hold at most ``MAX_HEAD_BYTES`` (httptools sets no limit of its
  own; h11 answers 400 above uvicorn's ``h11_max_incomplete_event_size``, set to the same), else
  431 ``request_header_too_large``.

What uvicorn does not let us change, and so stays as uvicorn writes it: the ``server`` and
``date`` headers, the connection being closed after such an error, the plain-text 500 uvicorn
writes if the app raised before starting a response (the app's own handler answers every
exception first, so it is not reached), and its 503 for ``limit_concurrency`` (not enabled).

Not for: routes, errors raised by the app (``api/errors.py``) or the app factory (``api/app.py``).
"""

from __future__ import annotations

import asyncio
import json
from http import HTTPStatus
from typing import Any

MAX_HEAD_BYTES = 64 * 1024  # request line + headers; a run-summary URL is ~100 bytes


def _json_response(status: int, code: str, message: str) -> bytes:
    body = json.dumps({"detail": {"code": code, "message": message}}).encode()
    head = (
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class _Bounded:
    """Mixed into a uvicorn HTTP protocol class (``protocol_class``); uses only the attributes
    both of uvicorn's implementations have (``loop``, ``transport``, ``cycle``)."""

    request_timeout: float = 10.0
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    cycle: Any
    _deadline: asyncio.TimerHandle | None = None
    _head_bytes = 0
    _head_cycle: Any = None
    _started = False  # bytes arrived since the deadline was armed

    # -- uvicorn's hooks ------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)  # type: ignore[misc]

    def on_response_complete(self) -> None:
        super().on_response_complete()  # type: ignore[misc]
        if not self.transport.is_closing():
            self._arm()  # the next request on this connection gets its own time

    def data_received(self, data: bytes) -> None:
        self._started = True
        reading_head = not self._in_flight()
        super().data_received(data)  # type: ignore[misc]
        if self.transport.is_closing():
            return
        if self.cycle is not self._head_cycle:  # the parser finished a request's headers
            self._head_cycle, self._head_bytes = self.cycle, 0
        elif reading_head:
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD_BYTES:
                self._reject(431, "request_header_too_large", f"over {MAX_HEAD_BYTES} bytes")

    def send_400_response(self, msg: str) -> None:
        self._reject(400, "invalid_http_request", msg)

    # -- ours ---------------------------------------------------------------------------------
    def _in_flight(self) -> bool:
        """A request whose headers were read and whose response is not complete yet."""
        return self.cycle is not None and not self.cycle.response_complete

    def _arm(self) -> None:
        self._disarm()
        self._started = False
        self._deadline = self.loop.call_later(self.request_timeout, self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self._in_flight() and not self.cycle.more_body:
            return  # read completely: the app is answering; its completion re-arms
        if not self._started or (self._in_flight() and self.cycle.response_started):
            # Idle (nothing sent since the connection opened or the last response): closed
            # quietly, as an idle keep-alive connection; a response under way cannot get a
            # second status line.
            self.transport.close()
            return
        message = f"the request was not received within {self.request_timeout:g} s"
        self._reject(408, "request_timeout", message)

    def _reject(self, status: int, code: str, message: str) -> None:
        self._disarm()
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.disconnected = True  # the app, if running, sees a client that left
        self.transport.write(_json_response(status, code, message))
        self.transport.close()


def protocol_class(request_timeout: float) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol (httptools if installed, else h11) bounded as described above."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as base
    except ImportError:  # httptools is optional for uvicorn
        from uvicorn.protocols.http.h11_impl import H11Protocol as base  # type: ignore[assignment]
    attributes = {"request_timeout": request_timeout, "__doc__": _Bounded.__doc__}
    return type(f"Bounded{base.__name__}", (_Bounded, base), attributes)


def serve(app: Any, host: str, port: int, request_timeout: float) -> None:
    """Run ``app`` until interrupted (uvicorn, one process)."""
    import uvicorn

    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="info",
        access_log=False,
        http=protocol_class(request_timeout),
        h11_max_incomplete_event_size=MAX_HEAD_BYTES,
    )
    uvicorn.Server(config).run()
