"""The answer side of the OpenAI extractor: the strict ``text.format`` built once per process, and
reading a Responses API answer as ``responses.parse`` did (final ``output_text`` only) plus what
the extractor checks on top (refusals, cut-off answers, usage).

Responses are built the way the SDK builds them from the wire (``Response.construct``, no
validation), so the readers see the same objects as in ``test_openai_extractor.py``'s calls.
"""

from __future__ import annotations

import json
from typing import Any

import pydantic
import pytest
from openai.lib._pydantic import to_strict_json_schema
from openai.types.responses import Response

from invoice_assets.standin import default_answer
from resources.openai_answer import (
    InvoiceAnswer,
    incomplete_reason,
    read_answer,
    read_refusal,
    read_usage,
    text_format,
    truncation_detail,
)

ANSWER = default_answer("a" * 64)


def response(
    *contents: dict[str, Any],
    phase: str | None = None,
    status: str = "completed",
    incomplete: dict[str, Any] | None = None,
    usage: dict[str, Any] | None = None,
) -> Response:
    message: dict[str, Any] = {
        "type": "message",
        "id": "msg_1",
        "role": "assistant",
        "status": status,
        "content": list(contents),
    }
    if phase is not None:
        message["phase"] = phase
    return Response.construct(
        id="resp_1",
        object="response",
        status=status,
        output=[message],
        incomplete_details=incomplete,
        usage=usage,
    )


def text(value: Any) -> dict[str, Any]:
    as_text = value if isinstance(value, str) else json.dumps(value)
    return {"type": "output_text", "text": as_text, "annotations": []}


def test_text_format_is_the_sdks_strict_schema_built_once_per_process():
    fmt = text_format()

    assert fmt is text_format()
    assert fmt == {
        "type": "json_schema",
        "name": "InvoiceAnswer",
        "schema": to_strict_json_schema(InvoiceAnswer),
        "strict": True,
    }


def test_the_final_output_text_is_the_answer_and_commentary_is_not_read():
    expected = InvoiceAnswer.model_validate(ANSWER)

    assert read_answer(response(text(ANSWER))) == expected
    assert read_answer(response(text(ANSWER), phase="final_answer")) == expected
    assert read_answer(response(text("thinking…"), phase="commentary")) is None
    assert read_answer(response(text(ANSWER), text(default_answer("b" * 64)))) == expected


def test_text_outside_the_answer_schema_raises_and_names_the_first_bad_field():
    with pytest.raises(pydantic.ValidationError) as raised:
        read_answer(response(text({"invoice": {"supplier": "x"}})))

    detail = truncation_detail(None, raised.value)
    assert detail.startswith("the answer does not fit the schema: invoice.")


def test_a_cut_off_answer_raises_and_its_detail_gives_the_reason():
    cut = response(
        text(json.dumps(ANSWER)[:200]),
        status="incomplete",
        incomplete={"reason": "max_output_tokens"},
    )

    with pytest.raises(pydantic.ValidationError) as raised:
        read_answer(cut)

    assert incomplete_reason(cut) == "max_output_tokens"
    assert truncation_detail(incomplete_reason(cut), raised.value) == (
        "the answer was cut off (max_output_tokens)"
    )
    assert incomplete_reason(None) is None
    assert incomplete_reason(response(text(ANSWER))) is None


def test_a_refusal_item_or_a_content_filter_stop_is_a_refusal_and_has_no_answer():
    refused = response({"type": "refusal", "refusal": "I can't help with that."})
    filtered = response(status="incomplete", incomplete={"reason": "content_filter"})

    assert read_answer(refused) is None
    assert read_refusal(refused) == "I can't help with that."
    assert read_refusal(response({"type": "refusal", "refusal": ""})) == "refused"
    assert read_answer(filtered) is None
    assert read_refusal(filtered) == "stopped by the content filter"
    assert read_refusal(response(text(ANSWER))) is None


def test_usage_is_the_billed_tokens_and_zero_when_the_response_has_none():
    billed = response(text(ANSWER), usage={"input_tokens": 1200, "output_tokens": 340})

    assert read_usage(billed) == {"input_tokens": 1200, "output_tokens": 340}
    assert read_usage(response(text(ANSWER))) == {"input_tokens": 0, "output_tokens": 0}
