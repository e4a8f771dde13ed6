"""The OpenAI extractor's HTTP side: the client it builds, what it counts and what it hides.

What it is for: ``make_client`` builds the ``openai`` client (one per batch, shared by the pool's
threads) with explicit timeout and retries, an event hook that counts HTTP responses by status
(``StatusCounter``, retries included) and a TLS context built once per process; ``Scrubber``
removes the API key, and anything that looks like an OpenAI secret, from every message.

Not for: what is sent or how answers are read (``resources/openai_documents.py``,
``resources/openai_answer.py``). ``openai`` is imported inside ``make_client`` only: importing
this module does not load it.
"""

from __future__ import annotations

import functools
import re
import threading
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import ssl

    from openai import OpenAI

_SECRET_LIKE = re.compile(r"\b(sk|sess|org|proj)-[A-Za-z0-9_\-*]{6,}")


class Scrubber:
    """Removes the key (and anything that looks like an OpenAI secret) from a message."""

    def __init__(self, secret: str) -> None:
        self._secret = secret

    def __call__(self, text: str, limit: int = 300) -> str:
        if self._secret:
            text = text.replace(self._secret, "***")
        return _SECRET_LIKE.sub(r"\1-***", text)[:limit]


class StatusCounter:
    """Counts HTTP responses by status as the client sees them (retries included)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = 0
        self.errors: Counter[str] = Counter()

    def __call__(self, response: Any) -> None:
        with self._lock:
            self.requests += 1
            status = int(response.status_code)
            if status // 100 in (4, 5):
                self.errors[str(status)] += 1


def make_client(
    api_key: str,
    base_url: str | None,
    counter: StatusCounter | None,
    timeout: float,
    retries: int,
) -> OpenAI:
    """A client with ``timeout`` per attempt, ``retries`` retries and ``counter`` as its response
    hook; raises ``openai.OpenAIError`` when there is no key at all."""
    import openai  # lazy: ~0.3 s that loading the code location need not pay

    hooks: dict[str, list[Callable[..., Any]]] = {}
    if counter is not None:
        hooks["response"] = [counter]
    return openai.OpenAI(
        api_key=api_key,
        base_url=base_url,
        timeout=timeout,
        max_retries=retries,
        http_client=openai.DefaultHttpxClient(
            timeout=timeout, event_hooks=hooks, verify=tls_context()
        ),
    )


@functools.cache
def tls_context() -> ssl.SSLContext | bool:
    """The HTTP client's default TLS context, built once per process instead of once per batch
    (loading the CA bundle costs ~70 ms of CPU); ``True`` (the client builds its own) if the SDK's
    HTTP library is not the one expected. A context is safe to share between clients.
    """
    try:
        import httpx2  # the openai SDK's HTTP library
    except ImportError:
        return True
    context: ssl.SSLContext = httpx2.create_ssl_context()
    return context
