"""A local stand-in for the OpenAI Responses API (tests and the offline demo).

``StandIn`` serves ``POST /v1/responses`` and ``GET /v1/models`` on 127.0.0.1 with the wire format
the real ``openai`` client parses, and plays scripted behaviours (rate limits, server errors,
latency, truncated answers, refusals, bad keys) so the real extractor code path can be exercised
offline. ``python -m invoice_assets.standin --port P --answers DIR`` runs it by hand.
"""

from invoice_assets.standin.answers import default_answer, to_answer
from invoice_assets.standin.server import StandIn

__all__ = ["StandIn", "default_answer", "to_answer"]
