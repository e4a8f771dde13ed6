"""The OpenAI wire format the stand-in speaks: response, error and model-list JSON objects.

What it is for: building the JSON bodies the real ``openai`` client parses, field for field, so the
extractor's own parsing (``output_text``, ``status``, ``incomplete_details``, ``usage``) runs
unchanged against the stand-in. Token counts are rough estimates from the request and answer sizes,
enough for the extractor's cost arithmetic.

Not for: deciding what to answer (``answers.py``) or which fault to play (``faults.py``), and not
for HTTP status codes, headers or sockets (``handler.py``).
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from invoice_assets.standin.faults import Behaviour, answer_output


def response_object(
    body: dict[str, Any], behaviour: Behaviour, answer: Any, model: str
) -> dict[str, Any]:
    """A Responses API object answering ``body`` with ``answer`` (``model`` if it names none)."""
    output = answer_output(behaviour, json.dumps(answer, ensure_ascii=False))
    status = output.status
    input_tokens = 200 + len(json.dumps(body)) // 4
    output_tokens = max(1, len(output.text) // 4)
    now = int(time.time())
    return {
        "id": f"resp_{uuid.uuid4().hex}",
        "object": "response",
        "created_at": now,
        "completed_at": now if status == "completed" else None,
        "status": status,
        "background": False,
        "error": None,
        "incomplete_details": output.incomplete,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "max_tool_calls": None,
        "model": body.get("model") or model,
        "output": [
            {
                "type": "message",
                "id": f"msg_{uuid.uuid4().hex}",
                "status": status,
                "role": "assistant",
                "content": [output.content],
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


def error_object(message: str, kind: str, code: str | None) -> dict[str, Any]:
    """An OpenAI error body: ``kind`` is its ``type``, ``code`` its machine-readable code."""
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def model_list(model: str) -> dict[str, Any]:
    """The ``GET /v1/models`` body: a list holding the one model the stand-in serves."""
    model_object = {"id": model, "object": "model", "created": 1_722_902_400, "owned_by": "s"}
    return {"object": "list", "data": [model_object]}
