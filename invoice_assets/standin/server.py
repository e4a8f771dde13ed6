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
``answer(obj)``, ``drip(n, seconds_per_byte)`` (headers at once, then the body one byte at a time);
``slow(seconds)`` sets a latency applied to every later request until changed, and
``drip_all(seconds_per_byte)`` makes every later reply of any endpoint drip.
Counters: ``calls`` (``/v1/responses`` requests), ``model_calls``, ``in_flight``,
``max_in_flight``; ``requests`` keeps the JSON bodies seen (never the Authorization header).
A stand-in in another process serves its counters at ``GET /v1/_standin/counters`` (with
``?reset=1``, ``max_in_flight`` restarts from the requests in flight).

Not for: production traffic, or checking what the real model would read from a document.
"""

# This docstring doubles as the ``--help`` text of ``main``, so it describes the whole stand-in;
# the pieces live beside this file: answers.py (which answer), faults.py (what a fault looks like),
# responses.py (the wire format) and handler.py (HTTP). This file keeps ``StandIn`` (the scripted
# state, the counters, the lifecycle) and ``main``.

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from invoice_assets.standin.answers import default_answer, to_answer
from invoice_assets.standin.faults import Behaviour
from invoice_assets.standin.handler import StandInHandler, StandInServer

DEFAULT_KEY = "sk-standin-local"
DEFAULT_MODEL = "gpt-4o-2024-08-06"


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
        self.drip_seconds = 0.0
        self.calls = 0
        self.model_calls = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.requests: list[dict[str, Any]] = []
        self._script: deque[Behaviour] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = StandInServer((host, port), StandInHandler)
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
    def _queue(self, behaviour: Behaviour, n: int) -> StandIn:
        with self._lock:
            self._script.extend([behaviour] * n)
        return self

    def answer(self, obj: Mapping[str, Any], n: int = 1) -> StandIn:
        """The next ``n`` requests get this answer (or record), whatever the document."""
        return self._queue(Behaviour("answer", payload=to_answer(obj)), n)

    def answer_raw(self, obj: Any, n: int = 1) -> StandIn:
        """The next ``n`` requests get exactly this JSON value as the output text."""
        return self._queue(Behaviour("answer", payload=obj), n)

    def rate_limit(self, n: int, retry_after: float = 0.0) -> StandIn:
        """The next ``n`` requests get 429 with ``Retry-After`` (and ``retry-after-ms``)."""
        return self._queue(Behaviour("rate_limit", 429, retry_after), n)

    def server_error(self, n: int, status: int = 500, retry_after: float = 0.0) -> StandIn:
        """The next ``n`` requests get ``status``; ``retry_after`` > 0 adds the headers."""
        return self._queue(Behaviour("server_error", status, retry_after), n)

    def truncated(self, n: int = 1) -> StandIn:
        """The answer text cut in half, status ``incomplete`` (max_output_tokens)."""
        return self._queue(Behaviour("truncated"), n)

    def refusal(self, n: int = 1) -> StandIn:
        return self._queue(Behaviour("refusal"), n)

    def unauthorized(self, n: int = 1) -> StandIn:
        """401 even with the right key (e.g. a key revoked mid-run)."""
        return self._queue(Behaviour("unauthorized", 401), n)

    def drip(self, n: int = 1, seconds_per_byte: float = 1.0) -> StandIn:
        """The next ``n`` answers send their headers at once, then one byte per interval."""
        return self._queue(Behaviour("drip", drip_seconds=seconds_per_byte), n)

    def drip_all(self, seconds_per_byte: float) -> StandIn:
        """Every later reply, of any endpoint, drips its body (0 turns it off)."""
        self.drip_seconds = float(seconds_per_byte)
        return self

    def slow(self, seconds: float) -> StandIn:
        """Every later request waits ``seconds`` before answering (0 turns it off)."""
        self.latency = float(seconds)
        return self

    def reset(self) -> None:
        """Forget the script, the latency and the counters."""
        with self._lock:
            self._script.clear()
            self.latency = self.drip_seconds = 0.0
            self.calls = self.model_calls = self.max_in_flight = 0
            self.requests.clear()

    # -- request side -----------------------------------------------------------------------
    def _next_behaviour(self) -> Behaviour:
        with self._lock:
            return self._script.popleft() if self._script else Behaviour("answer")

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
    sys.stdout.write(f"OpenAI stand-in on {standin.base_url} (Ctrl-C to stop)\n")
    sys.stdout.flush()
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
