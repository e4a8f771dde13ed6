"""The OpenAI extractor with the real ``openai`` client against the local stand-in server.

Nothing of ours is patched: every test starts ``invoice_assets.standin.StandIn`` on an ephemeral
port, points ``OpenAIExtractor.base_url`` at it and scripts the server's behaviour (rate limits,
server errors, latency, truncated answers, refusals, bad keys). Timeouts and retries are small so
the whole module stays fast.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openai._utils._transform import maybe_transform
from openai.lib._pydantic import to_strict_json_schema
from openai.types.responses.response_create_params import ResponseCreateParamsNonStreaming

from invoice_assets.domain.records import NUMERIC_FIELDS, ExtractionRecord
from invoice_assets.standin import StandIn, default_answer
from resources.openai_answer import (
    PROMPT_VERSION,
    InvoiceAnswer,
    answer_to_record,
    schema_hash,
    text_format,
)
from resources.openai_documents import document_input
from resources.openai_extractor import ExtractionBatch, OpenAIExtractor
from resources.store import InvoiceStore
from resources.store.extraction_cache import ExtractionCache
from tests.conftest import REPO

KEY = "sk-test-Zq8pL2mN4vR6tY1uW3xK5sSECRET"


def tiny_pdf(tag: str = "1") -> bytes:
    """A minimal but well-formed one-page PDF (distinct bytes per tag)."""
    return (
        b"%PDF-1.4\n"
        b"1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
        b"2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj\n"
        b"3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >> endobj\n"
        b"% invoice " + tag.encode() + b"\n"
        b"trailer << /Root 1 0 R >>\n%%EOF\n"
    )


def tiny_png() -> bytes:
    return b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00\x00\x00\x01" * 2 + b"\x08\x02"


def sha(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


@pytest.fixture
def standin() -> Iterator[StandIn]:
    with StandIn(api_key=KEY) as server:
        yield server


@pytest.fixture
def cache(tmp_path: Path) -> ExtractionCache:
    store = InvoiceStore(home=str(tmp_path))
    store.ensure_schema()
    return ExtractionCache(store)


def make(standin: StandIn, **overrides: Any) -> OpenAIExtractor:
    config: dict[str, Any] = {
        "api_key": KEY,
        "base_url": standin.base_url,
        "timeout_seconds": 2.0,
        "max_retries": 1,
    }
    return OpenAIExtractor(**(config | overrides))


def only_error(batch: ExtractionBatch) -> tuple[str, int | None]:
    [outcome] = batch.items
    assert outcome.item.record is None
    assert outcome.item.error is not None
    return outcome.item.error.code, outcome.http_status


# -- the happy path ----------------------------------------------------------------------------


def test_a_pdf_and_a_png_become_records_with_their_sha256_status_and_latency(standin):
    pdf, png = tiny_pdf(), tiny_png()

    batch = make(standin).extract_documents([("a.pdf", pdf), ("b.png", png)])

    assert [o.item.source_file for o in batch.items] == ["a.pdf", "b.png"]
    for outcome, content in zip(batch.items, (pdf, png), strict=True):
        assert outcome.item.error is None
        assert isinstance(outcome.item.record, ExtractionRecord)
        assert outcome.item.raw_sha256 == sha(content)
        assert outcome.item.record.invoice.invoice_no == f"SI{sha(content)[:12].upper()}"
        assert outcome.http_status == 200
        assert outcome.extraction_ms is not None and outcome.extraction_ms > 0
    assert batch.items[0].item.invoice_key != batch.items[1].item.invoice_key
    assert standin.calls == 2


def test_the_request_carries_the_document_the_prompt_and_a_strict_schema(standin):
    make(standin).extract_documents([("fatura.pdf", tiny_pdf()), ("scan.png", tiny_png())])

    bodies = sorted(standin.requests, key=lambda b: b["input"][0]["content"][1]["type"])
    for body in bodies:
        assert body["model"] == "gpt-4o-2024-08-06"
        assert body["store"] is False
        assert body["text"]["format"]["type"] == "json_schema"
        assert body["text"]["format"]["strict"] is True
        assert body["text"]["format"]["name"] == "InvoiceAnswer"
        assert body["text"]["format"]["schema"] == to_strict_json_schema(InvoiceAnswer)
        assert body["max_output_tokens"] == 8192
        [message] = body["input"]
        assert message["role"] == "user"
        assert message["content"][0]["type"] == "input_text"
        assert "elektrik faturası" in message["content"][0]["text"]
    pdf_part, png_part = bodies[0]["input"][0]["content"][1], bodies[1]["input"][0]["content"][1]
    assert pdf_part["type"] == "input_file"
    assert pdf_part["filename"] == "fatura.pdf"
    assert pdf_part["file_data"].startswith("data:application/pdf;base64,")
    assert png_part["type"] == "input_image"
    assert png_part["image_url"].startswith("data:image/png;base64,")


def test_a_recorded_answer_is_replayed_for_the_document_with_that_sha256(tmp_path):
    pdf = tiny_pdf("recorded")
    record = {
        "schema_version": 1,
        "invoice": {"supplier": "Enerjisa", "invoice_no": "EA2025000123", "ettn": "ettn-123"},
        "extraction": {"consumption_kwh": {"value": 1234.5, "confidence": 0.9}},
    }
    (tmp_path / f"{sha(pdf)}.json").write_text(json.dumps(record), encoding="utf-8")

    with StandIn(api_key=KEY, answers_dir=tmp_path) as server:
        batch = make(server).extract_documents([("r.pdf", pdf), ("other.pdf", tiny_pdf("x"))])

    replayed, default = (o.item.record for o in batch.items)
    assert replayed is not None and default is not None
    assert replayed.invoice.ettn == "ettn-123"
    assert replayed.extraction.consumption_kwh.value == 1234.5
    assert replayed.extraction.vat_tl.value is None
    assert replayed.extraction.vat_tl.confidence == 0.0
    assert default.invoice.supplier.startswith("Stand-in")


def test_usage_and_estimated_cost_come_from_the_responses_usage(standin):
    extractor = make(standin, input_usd_per_million_tokens=2.5, output_usd_per_million_tokens=10)

    batch = extractor.extract_documents([("a.pdf", tiny_pdf("1")), ("b.pdf", tiny_pdf("2"))])

    usage = batch.usage
    assert usage["calls"] == 2 and usage["http_requests"] == 2 and usage["cache_hits"] == 0
    assert usage["input_tokens"] > 0 and usage["output_tokens"] > 0
    expected = (usage["input_tokens"] * 2.5 + usage["output_tokens"] * 10) / 1e6
    assert usage["estimated_cost_usd"] == pytest.approx(expected, abs=1e-6)
    assert batch.errors_by_status == {}


# -- failures of the API -----------------------------------------------------------------------


def test_a_429_storm_beyond_the_retries_fails_as_rate_limited(standin):
    standin.rate_limit(10, retry_after=0.01)

    batch = make(standin, max_retries=2).extract_documents([("a.pdf", tiny_pdf())])

    assert only_error(batch) == ("rate_limited", 429)
    assert standin.calls == 3  # max_retries + 1
    assert batch.errors_by_status == {"429": 3}
    assert batch.usage["http_requests"] == 3


def test_a_429_then_success_gives_a_record_after_the_clients_retry(standin):
    standin.rate_limit(1, retry_after=0.01)

    batch = make(standin, max_retries=2).extract_documents([("a.pdf", tiny_pdf())])

    [outcome] = batch.items
    assert outcome.item.record is not None
    assert outcome.http_status == 200
    assert standin.calls == 2
    assert batch.errors_by_status == {"429": 1}


@pytest.mark.parametrize("status", [500, 503])
def test_a_persistent_5xx_fails_as_server_error_with_its_status(standin, status):
    standin.server_error(2, status=status, retry_after=0.01)

    batch = make(standin, max_retries=1).extract_documents([("a.pdf", tiny_pdf())])

    assert only_error(batch) == ("server_error", status)
    assert standin.calls == 2


def test_an_answer_slower_than_the_timeout_fails_as_timeout_without_status(standin):
    standin.slow(5)
    started = time.perf_counter()

    batch = make(standin, timeout_seconds=1, max_retries=0).extract_documents(
        [("a.pdf", tiny_pdf())]
    )

    assert only_error(batch) == ("timeout", None)
    assert time.perf_counter() - started < 3
    assert batch.items[0].extraction_ms is not None
    assert batch.items[0].extraction_ms >= 900


def _threads_keeping_the_process_alive() -> list[str]:
    import threading

    return [t.name for t in threading.enumerate() if not t.daemon and t.is_alive()][1:]


def test_an_answer_dripping_a_byte_a_second_fails_at_the_deadline_and_the_rest_proceed(standin):
    """Headers at once, then one byte a second: no read ever times out, the deadline ends it."""
    standin.drip(1, seconds_per_byte=1.0)
    docs = [("drip.pdf", tiny_pdf("drip")), ("a.pdf", tiny_pdf("a")), ("b.png", tiny_png())]
    started = time.perf_counter()

    batch = make(
        standin, timeout_seconds=30, max_retries=2, deadline_seconds=2, max_concurrency=2
    ).extract_documents(docs)

    elapsed = time.perf_counter() - started
    # The stand-in drips the first request it receives; with two calls at once that is either of
    # the first two documents, whichever request lands first.
    failed = [item for item in batch.items if item.item.error is not None]
    assert len(failed) == 1 and failed[0].item.source_file in {"drip.pdf", "a.pdf"}
    drip = failed[0]
    assert drip.item.error.code == "deadline_exceeded"
    assert "2 s deadline" in drip.item.error.message
    assert len(batch.items) == 3
    assert 2 <= elapsed < 2 + 5  # the deadline, not the 30 s read timeout nor the whole drip
    assert _threads_keeping_the_process_alive() == []


def test_check_api_ends_at_its_timeout_when_the_models_list_drips(standin):
    standin.drip_all(1.0)
    started = time.perf_counter()

    status, detail = make(standin).check_api(timeout_seconds=1)

    assert (status, detail) == ("error", "no complete answer within 1s")
    assert time.perf_counter() - started < 1 + 3
    assert _threads_keeping_the_process_alive() == []


def test_a_truncated_answer_fails_as_truncated_answer(standin):
    standin.truncated()

    batch = make(standin).extract_documents([("a.pdf", tiny_pdf())])

    assert only_error(batch) == ("truncated_answer", 200)
    assert "max_output_tokens" in (batch.items[0].item.error.message or "")
    assert batch.usage["output_tokens"] > 0  # a cut answer is still billed


def test_an_answer_outside_the_answer_schema_fails_as_invalid_answer(standin):
    # complete (not cut off) but without its extraction object: invalid, not truncated (issue 15)
    standin.answer_raw({"invoice": {"supplier": "x"}})

    batch = make(standin).extract_documents([("a.pdf", tiny_pdf())])

    assert only_error(batch) == ("invalid_answer", 200)


def test_an_answer_that_is_not_json_fails_as_invalid_answer(standin):
    standin.answer_raw("not json at all {")

    batch = make(standin).extract_documents([("a.pdf", tiny_pdf())])

    assert only_error(batch) == ("invalid_answer", 200)


def test_missing_optional_fields_of_a_non_strict_server_count_as_null(standin):
    # what an OpenAI-compatible server without strict mode returns: optional keys left out
    standin.answer_raw(
        {
            "invoice": {"supplier": "CK Boğaziçi", "invoice_no": "ABC2025000000001"},
            "extraction": {
                "consumption_kwh": {"value": 1234.5, "confidence": 0.9},
                "invoice_total_with_vat_tl": {"value": 5000.0, "confidence": 0.8, "page": 1},
            },
        }
    )

    batch = make(standin).extract_documents([("a.pdf", tiny_pdf())])

    [outcome] = batch.items
    record = outcome.item.record
    assert outcome.item.error is None and record is not None
    assert record.invoice.invoice_no == "ABC2025000000001" and record.invoice.ettn is None
    assert record.extraction.consumption_kwh.value == 1234.5
    assert record.extraction.consumption_kwh.evidence is None
    assert record.extraction.vat_tl.value is None and record.extraction.vat_tl.confidence == 0.0
    assert record.line_items == []


def test_a_refusal_fails_as_refusal(standin):
    standin.refusal()

    batch = make(standin).extract_documents([("a.pdf", tiny_pdf())])

    assert only_error(batch) == ("refusal", 200)
    assert batch.items[0].item.error.message == "I'm sorry, I can't help with that."
    assert batch.usage["output_tokens"] > 0  # a refusal is still billed


@pytest.mark.parametrize(
    ("field", "bad"),
    [("confidence", 1.5), ("confidence", float("nan")), ("value", float("inf"))],
)
def test_an_answer_the_domain_record_refuses_fails_as_schema_violation(standin, field, bad):
    answer = default_answer("0" * 64)
    answer["extraction"]["vat_tl"][field] = bad
    standin.answer_raw(answer)

    batch = make(standin).extract_documents([("a.pdf", tiny_pdf())])

    assert only_error(batch) == ("schema_violation", 200)
    error = batch.items[0].item.error
    assert error is not None and error.field == f"extraction.vat_tl.{field}"


def test_a_rejected_key_fails_as_auth_error_and_the_key_appears_nowhere(standin, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = "sk-proj-WRONGkey0123456789abcdefXYZ"
    extractor = make(standin, api_key=wrong)

    batch = extractor.extract_documents([("a.pdf", tiny_pdf())])

    assert only_error(batch) == ("auth_error", 401)
    assert standin.calls == 1  # 401 is not retried
    assert batch.errors_by_status == {"401": 1}
    everything = json.dumps(
        [batch.usage, batch.errors_by_status, [str(o) for o in batch.items]], default=str
    )
    for text in (everything, caplog.text, extractor.check_api()[1]):
        assert wrong not in text
        assert "WRONGkey" not in text


def test_a_key_revoked_mid_run_fails_as_auth_error(standin):
    standin.unauthorized()

    batch = make(standin).extract_documents([("a.pdf", tiny_pdf())])

    assert only_error(batch) == ("auth_error", 401)


def test_an_unreachable_api_fails_as_connection_error(standin):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed when the block ends: nobody listens there
    extractor = make(standin, base_url=f"http://127.0.0.1:{port}/v1", max_retries=0)

    batch = extractor.extract_documents([("a.pdf", tiny_pdf())])

    assert only_error(batch) == ("connection_error", None)


def test_the_key_never_appears_in_messages_usage_errors_or_logs_on_any_failure(standin, caplog):
    caplog.set_level(logging.DEBUG)
    standin.rate_limit(2, retry_after=0.01).server_error(1, retry_after=0.01)
    standin.truncated().refusal()
    docs = [(f"{n}.pdf", tiny_pdf(str(n))) for n in range(5)]

    batch = make(standin, max_retries=0, max_concurrency=1).extract_documents(docs)

    codes = sorted(o.item.error.code for o in batch.items if o.item.error is not None)
    assert codes == ["rate_limited", "rate_limited", "refusal", "server_error", "truncated_answer"]
    dumped = json.dumps([batch.usage, batch.errors_by_status, [str(o) for o in batch.items]])
    assert KEY not in dumped
    assert KEY not in caplog.text
    assert KEY not in repr(make(standin))
    assert all(KEY not in json.dumps(body) for body in standin.requests)


# -- file checks before any call ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"", "empty_file"),
        (b"   \n", "empty_file"),
        (b"just some text, not an invoice", "unsupported_type"),
        (b'{"schema_version": 1}', "unsupported_type"),
        (b"%PDF-1.4\n" + b"x" * 5000, "file_too_large"),
        (tiny_pdf()[:-20], "unreadable_pdf"),
        (b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n", "unreadable_pdf"),
    ],
    ids=["empty", "blank", "text", "json", "oversized", "truncated_pdf", "pdf_without_page"],
)
def test_a_bad_file_fails_with_its_code_before_any_call(standin, content, code):
    batch = make(standin, max_file_bytes=4096).extract_documents([("doc", content)])

    assert only_error(batch) == (code, None)
    assert batch.items[0].extraction_ms is None
    assert batch.items[0].item.raw_sha256 == sha(content)
    assert standin.calls == 0
    assert batch.usage["calls"] == 0


def test_a_pdf_whose_page_sits_in_a_compressed_object_stream_is_readable(standin):
    packed = zlib.compress(b"3 0 << /Type /Page /Parent 2 0 R >>")
    pdf = (
        b"%PDF-1.5\n4 0 obj << /Type /ObjStm /N 1 /First 4 /Filter /FlateDecode /Length "
        + str(len(packed)).encode()
        + b" >>\nstream\n"
        + packed
        + b"\nendstream\nendobj\n%%EOF\n"
    )

    batch = make(standin).extract_documents([("modern.pdf", pdf)])

    assert batch.items[0].item.record is not None
    assert standin.calls == 1


# -- cache and batching ------------------------------------------------------------------------


def test_a_rerun_of_unchanged_files_is_served_from_the_cache_without_any_call(standin, cache):
    docs = [("a.pdf", tiny_pdf("1")), ("b.png", tiny_png())]
    first = make(standin).extract_documents(docs, cache)
    calls = standin.calls

    second = make(standin).extract_documents(docs, cache)

    assert standin.calls == calls == 2
    assert second.usage["cache_hits"] == 2 and second.usage["calls"] == 0
    assert second.usage["estimated_cost_usd"] == 0
    for before, after in zip(first.items, second.items, strict=True):
        assert after.item.record == before.item.record
        assert after.item.raw_sha256 == before.item.raw_sha256
        assert (after.extraction_ms, after.http_status) == (None, None)


def test_failures_are_not_cached_and_are_retried_on_the_next_run(standin, cache):
    standin.server_error(1)
    make(standin, max_retries=0).extract_documents([("a.pdf", tiny_pdf())], cache)

    batch = make(standin, max_retries=0).extract_documents([("a.pdf", tiny_pdf())], cache)

    assert batch.items[0].item.record is not None
    assert standin.calls == 2


def test_a_new_prompt_version_or_model_misses_the_cache(standin, cache):
    docs = [("a.pdf", tiny_pdf())]
    make(standin).extract_documents(docs, cache)

    make(standin, prompt_version="tr-electricity-v2").extract_documents(docs, cache)
    make(standin, model="gpt-4o-mini").extract_documents(docs, cache)

    assert standin.calls == 3


def test_the_cache_key_covers_file_model_prompt_and_schema_and_put_replaces(cache):
    key = ExtractionCache.key("f" * 64, "m", "p", "s")
    assert key == hashlib.sha256(f"{'f' * 64}|m|p|s".encode()).hexdigest()
    assert key != ExtractionCache.key("f" * 64, "m", "p", "t")
    one = answer_to_record(InvoiceAnswer.model_validate(default_answer("1" * 64)))
    two = answer_to_record(InvoiceAnswer.model_validate(default_answer("2" * 64)))
    assert isinstance(one, ExtractionRecord) and isinstance(two, ExtractionRecord)
    meta = {"file_sha256": "f" * 64, "model": "m", "prompt_version": "p", "schema_hash": "s"}

    cache.put(key, **meta, record=one, raw_response="{}", usage={"input_tokens": 1})
    cache.put(key, **meta, record=two, raw_response=None, usage=None)

    assert cache.get(key) == two
    assert cache.get("0" * 64) is None


def test_identical_documents_in_one_batch_are_sent_once(standin):
    pdf = tiny_pdf()

    batch = make(standin).extract_documents([("a.pdf", pdf), ("copy.pdf", pdf)])

    assert standin.calls == 1
    assert [o.item.source_file for o in batch.items] == ["a.pdf", "copy.pdf"]
    assert batch.items[0].item.record == batch.items[1].item.record


def test_requests_in_flight_never_exceed_max_concurrency(standin):
    standin.slow(0.2)
    docs = [(f"{n}.pdf", tiny_pdf(str(n))) for n in range(20)]

    batch = make(standin, max_concurrency=4).extract_documents(docs)

    assert all(o.item.record is not None for o in batch.items)
    assert 2 <= standin.max_in_flight <= 4
    assert standin.calls == 20


def test_concurrent_calls_overlap_their_latency(standin):
    latency, n = 0.25, 16
    standin.slow(latency)
    docs = [(f"{k}.pdf", tiny_pdf(str(k))) for k in range(n)]

    started = time.perf_counter()
    batch = make(standin, max_concurrency=8).extract_documents(docs)
    elapsed = time.perf_counter() - started

    assert all(o.item.record is not None for o in batch.items)
    assert elapsed < n * latency / 3  # sequential would take n × latency; ideal is n/8 × latency
    assert all(o.extraction_ms is not None and o.extraction_ms >= 240 for o in batch.items)


# -- readiness and the answer model -----------------------------------------------------------


def test_check_api_is_ok_when_the_key_is_accepted(standin):
    status, detail = make(standin).check_api(timeout_seconds=1)

    assert status == "ok"
    assert "gpt-4o-2024-08-06 listed" in detail
    assert standin.model_calls == 1 and standin.calls == 0


def test_check_api_reports_a_rejected_key_an_empty_key_and_a_dead_endpoint(standin):
    assert make(standin, api_key="sk-nope-0123456789").check_api(1) == (
        "error",
        "API key rejected (HTTP 401)",
    )
    assert make(standin, api_key=" ").check_api(1)[0] == "error"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    status, detail = make(standin, base_url=f"http://127.0.0.1:{port}/v1").check_api(1)
    assert status == "error" and f"127.0.0.1:{port}" in detail


def test_check_api_answers_quickly_when_the_api_hangs(standin):
    """A listener that never answers: the connection opens, the answer never comes."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/v1"
        started = time.perf_counter()
        status, detail = make(standin, base_url=url).check_api(timeout_seconds=0.5)
    assert status == "error" and "0.5s" in detail
    assert time.perf_counter() - started < 2


def test_the_answer_model_is_accepted_by_strict_structured_outputs():
    schema = to_strict_json_schema(InvoiceAnswer)
    objects = [schema, *schema["$defs"].values()]
    for obj in objects:
        assert obj["additionalProperties"] is False
        assert sorted(obj["required"]) == sorted(obj["properties"])
        assert all("default" not in prop for prop in obj["properties"].values())
    assert sorted(schema["$defs"]["AnswerExtraction"]["properties"]) == sorted(NUMERIC_FIELDS)
    assert len(schema_hash()) == 64 and schema_hash() == schema_hash()
    assert PROMPT_VERSION


def test_the_sdk_would_send_the_request_body_unchanged():
    """``input`` and ``text`` go in ``extra_body``, skipping the SDK's per-call transformation of
    keyword arguments: that is right only while the transformation leaves them as they are."""
    for name, content, kind in (("a.pdf", tiny_pdf(), "pdf"), ("b.png", tiny_png(), "image")):
        body = {"input": document_input(name, content, kind), "text": {"format": text_format()}}
        assert maybe_transform(body, ResponseCreateParamsNonStreaming) == body


def test_loading_the_code_location_does_not_import_openai():
    """``openai`` costs ~0.3 s to import; the extractor imports it when it first needs the API."""
    code = "import sys, invoice_assets.definitions; print('openai' in sys.modules)"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INVOICE_", "OPENAI_"))}
    loaded = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert loaded.stdout.strip() == "False"


def test_every_config_field_is_documented_and_the_key_is_hidden_from_repr():
    for name, info in OpenAIExtractor.model_fields.items():
        assert info.description, name
    assert KEY not in repr(OpenAIExtractor(api_key=KEY))


def test_a_missing_key_fails_every_document_as_auth_error_without_a_call(standin, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)

    batch = make(standin, api_key="").extract_documents([("a.pdf", tiny_pdf()), ("b", b"")])

    codes = [o.item.error.code for o in batch.items if o.item.error is not None]
    assert codes == ["auth_error", "empty_file"]
    assert standin.calls == 0 and batch.usage["calls"] == 0
