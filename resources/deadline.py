"""A total deadline for a blocking call whose library offers only per-operation timeouts.

What it is for: an HTTP client's timeouts bound each connect and each read, so a server that sends
its headers and then a byte a second keeps one call going for as long as it likes.
``call_with_deadline`` runs the call on a daemon thread and stops waiting for it at the deadline
(``DeadlineExceeded``); the caller moves on, and the abandoned call ends on its own (its read
timeout, or its connection closed when the caller closes its client) without ever keeping the
process alive, because a daemon thread does not.

Not for: cancelling work that must not be left half-done (database writes): only calls whose
result can be dropped, like an HTTP request whose answer arrives too late to be used.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, wait
from typing import TypeVar

T = TypeVar("T")


class DeadlineExceeded(TimeoutError):
    """The call did not finish within its total deadline."""

    def __init__(self, what: str, seconds: float) -> None:
        super().__init__(f"{what}: no complete answer within the {seconds:g} s deadline")
        self.what, self.seconds = what, seconds


def call_with_deadline(fn: Callable[[], T], seconds: float, what: str) -> T:
    """``fn()``'s result or exception if it finishes within ``seconds``; else
    ``DeadlineExceeded`` while ``fn`` goes on, unobserved, on its daemon thread."""
    future: Future[T] = Future()

    def run() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(fn())
        except BaseException as exc:  # handed to the caller, whatever it is
            future.set_exception(exc)

    threading.Thread(target=run, name=f"deadline {what}"[:64], daemon=True).start()
    finished, _ = wait([future], timeout=seconds)
    if not finished:  # (not ``result(timeout)``: fn's own TimeoutError must stay fn's)
        raise DeadlineExceeded(what, seconds)
    return future.result()
