"""The OpenAI extractor: PDFs and images of Turkish electricity invoices → extraction records.

What it is for: the real vision extractor behind the ``Extractor`` interface (SPEC §2, §4.1). One
call per document to the Responses API with structured outputs (``InvoiceAnswer``), converted into
the domain's ``ExtractionRecord`` and validated by ``records.parse_record``. Files are checked
before any call (``empty_file``, ``file_too_large``, ``unsupported_type``, ``unreadable_pdf``), a
cache keyed by (file sha256, model, prompt version, answer-schema hash) makes reruns of unchanged
files free, and a bounded thread pool sharing one client caps requests in flight inside a step
(the Dagster pool ``openai`` caps steps across runs, SPEC §9). Every failure is an ``ItemError``
with a distinct code, never an exception:

``rate_limited`` (429 after the client's retries) · ``timeout`` (an attempt's connect or read
timed out, retries included) · ``deadline_exceeded`` (no complete answer within the document's
total ``deadline_seconds``, e.g. a server dripping its answer) · ``server_error`` (5xx) ·
``auth_error`` (401/403) · ``api_error`` (another 4xx, or a response the client cannot read) ·
``connection_error`` · ``refusal`` · ``truncated_answer`` (cut off: ``status: incomplete``) ·
``invalid_answer`` (complete but not JSON or not the answer schema; missing optional fields of
servers without strict mode count as null) · ``schema_violation`` (a well-formed answer the
domain record rejects, e.g. a confidence outside 0..1; the message starts with the domain's own
code) · ``extractor_error`` (a bug).

The API key is a secret: it is never logged, never part of an error message or a return value
(messages are scrubbed), and hidden from the resource's ``repr``.

Client CPU per call is kept small (answers are handled under the GIL): the strict schema is built
once per process, and ``openai`` is imported only when a batch or a readiness check needs it.

Not for: the answer model, prompt and response reading (``resources/openai_answer.py``), file
checks (``resources/openai_documents.py``), building the client (``resources/openai_client.py``),
the cache (``resources/store/extraction_cache.py``), JSON files (``resources/extractor.py``),
retries across materialisations (the extractions asset counts attempts against
``max_attempts``), or judging the values (validation does that).
"""

from __future__ import annotations

import hashlib
import logging
import time
import traceback
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

import dagster as dg
import pydantic
from pydantic import Field

from invoice_assets.domain.records import ExtractionRecord, InboxItem, ItemError
from resources.deadline import DeadlineExceeded, call_with_deadline
from resources.extractor import ExtractedItem
from resources.openai_answer import (
    PROMPT_VERSION,
    answer_error_code,
    answer_to_record,
    incomplete_reason,
    read_answer,
    read_refusal,
    read_usage,
    schema_hash,
    text_format,
    truncation_detail,
)
from resources.openai_client import Scrubber, StatusCounter, make_client
from resources.openai_documents import check_document, document_input
from resources.store.extraction_cache import ExtractionCache

if TYPE_CHECKING:
    from openai import OpenAI
    from openai.types.responses import Response

# ExtractionCache is part of this module's interface (``extract_documents`` takes one).
__all__ = ["ExtractionBatch", "ExtractionCache", "OpenAIExtractor"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExtractionBatch:
    """The outcome of ``extract_documents``: one item per document, in input order.

    ``usage``: input_tokens, output_tokens, calls (documents sent), http_requests (including the
    client's retries), cache_hits, estimated_cost_usd. ``errors_by_status``: HTTP error responses
    seen, retried ones included, by status code ("429": 3).
    """

    items: list[ExtractedItem]
    usage: dict[str, Any] = field(default_factory=dict)
    errors_by_status: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class _CallResult:
    record: ExtractionRecord | None
    error: ItemError | None
    extraction_ms: float
    http_status: int | None
    usage: dict[str, int] | None
    raw_response: str | None


class OpenAIExtractor(dg.ConfigurableResource):
    """PDF and image invoices through the OpenAI Responses API (structured outputs)."""

    api_key: str = Field(
        repr=False,
        description="OpenAI API key (secret; pass dg.EnvVar('OPENAI_API_KEY')). Never logged.",
    )
    base_url: str | None = Field(
        default=None,
        description="API base URL; unset means api.openai.com (tests use the local stand-in).",
    )
    model: str = Field(
        default="gpt-4o-2024-08-06", description="Model with vision and structured outputs."
    )
    prompt_version: str = Field(
        default=PROMPT_VERSION,
        description="Version of the extraction prompt; part of the cache key.",
    )
    timeout_seconds: float = Field(
        default=60.0,
        gt=0,
        description="Timeout of each connect and each read of one HTTP attempt, in seconds.",
    )
    deadline_seconds: float = Field(
        default=180.0,
        gt=0,
        description="Total time for one document, every attempt and retry included: an answer "
        "not complete by then (a server sending a byte a second) fails as deadline_exceeded.",
    )
    max_retries: int = Field(
        default=2,
        ge=0,
        description="The client's own retries of 408/409/429/5xx/timeouts (honours Retry-After).",
    )
    max_concurrency: int = Field(
        default=8, ge=1, description="Requests in flight at once inside one step (thread pool)."
    )
    max_file_bytes: int = Field(
        default=10 * 1024 * 1024, gt=0, description="Larger files fail as file_too_large."
    )
    max_attempts: int = Field(
        default=3,
        ge=1,
        description="Attempts per invoice across materialisations before it counts as exhausted.",
    )
    max_output_tokens: int = Field(
        default=8192, gt=0, description="Cap on the answer's length (a cut answer is truncated)."
    )
    input_usd_per_million_tokens: float = Field(
        default=2.50, ge=0, description="Price of input tokens, for the cost estimate."
    )
    output_usd_per_million_tokens: float = Field(
        default=10.00, ge=0, description="Price of output tokens, for the cost estimate."
    )

    # -- public API -----------------------------------------------------------------------------
    def cache_key(self, file_sha256: str) -> str:
        return ExtractionCache.key(file_sha256, self.model, self.prompt_version, schema_hash())

    def extract_documents(
        self, docs: Sequence[tuple[str, bytes]], cache: ExtractionCache | None = None
    ) -> ExtractionBatch:
        """One ``ExtractedItem`` per ``(file name, bytes)``, in order; never raises for content.

        File checks come first (no call for a bad file), then the cache, then one API call per
        distinct document on a pool of ``max_concurrency`` threads sharing one client.
        """
        scrub = Scrubber(self.api_key)
        results: list[ExtractedItem | None] = [None] * len(docs)
        todo: dict[str, list[int]] = {}  # sha256 → indexes of the documents with these bytes
        kinds: dict[str, str] = {}
        shas = [hashlib.sha256(content).hexdigest() for _, content in docs]
        for index, (name, content) in enumerate(docs):
            kind, error = check_document(content, self.max_file_bytes)
            if error is not None:
                results[index] = _failed(name, shas[index], error, None, None)
            else:
                todo.setdefault(shas[index], []).append(index)
                kinds[shas[index]] = kind

        hits = 0
        if cache is not None and todo:
            keys = {sha: self.cache_key(sha) for sha in todo}
            cached = cache.get_many(keys.values())
            for sha in [sha for sha in todo if keys[sha] in cached]:
                for index in todo.pop(sha):
                    record = cached[keys[sha]]
                    item = InboxItem(docs[index][0], None, shas[index], record, None)
                    results[index] = ExtractedItem(item, None, None)
                    hits += 1

        counter = StatusCounter()
        totals = {"input_tokens": 0, "output_tokens": 0}
        client: OpenAI | None = None
        if todo:
            import openai  # lazy: ~0.3 s that loading the code location need not pay

            try:
                attempt = min(self.timeout_seconds, self.deadline_seconds)
                client = self._client(counter, attempt, self.max_retries)
            except openai.OpenAIError as exc:  # no key at all: fail the documents, not the step
                error = ItemError("auth_error", None, scrub(f"no usable client: {exc}"))
                for sha, indexes in todo.items():
                    for index in indexes:
                        results[index] = _failed(docs[index][0], sha, error, None, None)
                todo = {}
        if client is not None:
            with client:
                text_format()  # built here, once, so that the pool's threads only read it
                workers = min(self.max_concurrency, len(todo))
                with ThreadPoolExecutor(workers, thread_name_prefix="openai-extract") as pool:
                    futures = {}
                    for sha, indexes in todo.items():
                        name, content = docs[indexes[0]]
                        call = pool.submit(self._call, client, name, content, kinds[sha], scrub)
                        futures[call] = sha
                    for future in as_completed(futures):
                        sha = futures[future]
                        result = future.result()
                        if result.usage:
                            totals["input_tokens"] += result.usage["input_tokens"]
                            totals["output_tokens"] += result.usage["output_tokens"]
                        if result.record is not None and cache is not None:
                            self._cache_put(cache, sha, result, scrub)
                        for index in todo[sha]:
                            results[index] = _outcome(docs[index][0], sha, result)

        items = [item for item in results if item is not None]
        cost = (
            totals["input_tokens"] * self.input_usd_per_million_tokens
            + totals["output_tokens"] * self.output_usd_per_million_tokens
        ) / 1_000_000
        usage = {
            **totals,
            "calls": len(todo),
            "http_requests": counter.requests,
            "cache_hits": hits,
            "estimated_cost_usd": round(cost, 6),
        }
        failed = Counter(i.item.error.code for i in items if i.item.error is not None)
        log.info(
            "extracted %d documents: %d calls, %d cache hits, %d failed %s, ~%.4f USD",
            len(items),
            len(todo),
            hits,
            sum(failed.values()),
            dict(sorted(failed.items())),
            cost,
        )
        return ExtractionBatch(items, usage, dict(sorted(counter.errors.items())))

    def check_api(self, timeout_seconds: float = 3.0) -> tuple[str, str]:
        """("ok" | "error", detail) from a cheap authenticated call (readiness, SPEC §5.9)."""
        scrub = Scrubber(self.api_key)
        if not self.api_key.strip():
            return "error", "no API key configured (OPENAI_API_KEY is empty)"
        import openai  # lazy (see extract_documents)

        started = time.perf_counter()
        try:
            with self._client(None, timeout_seconds, 0) as client:
                listing = partial(client.models.list, timeout=timeout_seconds)
                page = call_with_deadline(listing, timeout_seconds, "GET /models")
                ids = {model.id for model in page.data}
        except DeadlineExceeded:
            return "error", f"no complete answer within {timeout_seconds:g}s"
        except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
            return "error", f"API key rejected (HTTP {exc.status_code})"
        except openai.APITimeoutError:
            return "error", f"no answer within {timeout_seconds:g}s"
        except openai.APIConnectionError:
            return "error", f"cannot connect to {self._host()}"
        except openai.APIStatusError as exc:
            return "error", f"HTTP {exc.status_code}: {scrub(exc.message, 120)}"
        except Exception as exc:  # readiness must answer, whatever happened
            return "error", f"{type(exc).__name__}: {scrub(str(exc), 120)}"
        ms = (time.perf_counter() - started) * 1000.0
        listed = "listed" if self.model in ids else "not listed"
        return "ok", f"key accepted in {ms:.0f} ms; model {self.model} {listed}"

    # -- internals ------------------------------------------------------------------------------
    def _host(self) -> str:
        url = self.base_url or "https://api.openai.com/v1"
        return url.split("://", 1)[-1].split("/", 1)[0]

    def _client(self, counter: StatusCounter | None, timeout: float, retries: int) -> OpenAI:
        return make_client(self.api_key, self.base_url, counter, timeout, retries)

    def _call(
        self, client: OpenAI, name: str, content: bytes, kind: str, scrub: Scrubber
    ) -> _CallResult:
        """One document through the API; every outcome is a ``_CallResult``, never an exception."""
        import openai  # already loaded by the client: a dictionary look-up

        started = time.perf_counter()
        status: int | None = None
        usage: dict[str, int] | None = None
        raw_text: str | None = None
        response: Response | None = None

        def done(error: ItemError | None, record: ExtractionRecord | None = None) -> _CallResult:
            ms = (time.perf_counter() - started) * 1000.0
            if error is not None:
                log.warning("extraction of %s failed: %s (%s)", name, error.code, error.message)
            return _CallResult(record, error, ms, status, usage, raw_text)

        try:
            # ``create`` with the strict schema built once, not ``parse(text_format=...)``, which
            # rebuilds it from the model on every call. ``input`` and ``text`` are plain JSON
            # already and go in ``extra_body``: as keyword arguments the SDK would walk them
            # against its TypedDicts on every call (~1 ms of CPU) to change nothing (a test checks
            # that this transformation stays an identity for them).
            body = {"input": document_input(name, content, kind), "text": {"format": text_format()}}

            def request() -> tuple[int, str, Response]:
                raw = client.responses.with_raw_response.create(
                    model=self.model,
                    store=False,
                    max_output_tokens=self.max_output_tokens,
                    extra_body=body,
                )
                return raw.http_response.status_code, raw.text, raw.parse()

            status, raw_text, response = call_with_deadline(request, self.deadline_seconds, name)
            usage = read_usage(response)
            answer = read_answer(response)
        except DeadlineExceeded:
            message = f"no complete answer within the {self.deadline_seconds:g} s deadline"
            return done(ItemError("deadline_exceeded", None, message))
        except openai.RateLimitError as exc:
            status = exc.status_code
            message = f"HTTP 429 after {self.max_retries} retries: {scrub(exc.message)}"
            return done(ItemError("rate_limited", None, message))
        except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
            status = exc.status_code
            message = f"HTTP {status}: the API key was rejected or lacks access"
            return done(ItemError("auth_error", None, message))
        except openai.APIStatusError as exc:
            status = exc.status_code
            code = "server_error" if status // 100 == 5 else "api_error"
            return done(ItemError(code, None, f"HTTP {status}: {scrub(exc.message)}"))
        except openai.APITimeoutError:
            message = f"no answer within {self.timeout_seconds:g}s ({self.max_retries} retries)"
            return done(ItemError("timeout", None, message))
        except openai.APIConnectionError as exc:
            return done(ItemError("connection_error", None, scrub(f"{exc.message}")))
        except openai.APIResponseValidationError as exc:
            return done(ItemError("api_error", None, f"unreadable response: {scrub(exc.message)}"))
        except (pydantic.ValidationError, ValueError) as exc:  # cut off, or not the answer schema
            reason = incomplete_reason(response)
            detail = truncation_detail(reason, exc)
            return done(ItemError(answer_error_code(reason), None, scrub(detail)))
        except Exception as exc:  # one bad document must not stop the others
            trace = scrub(traceback.format_exc(), 4000)
            log.error("unexpected error extracting %s:\n%s", name, trace)
            return done(ItemError("extractor_error", None, scrub(f"{type(exc).__name__}: {exc}")))

        refusal = read_refusal(response)
        if refusal is not None:
            return done(ItemError("refusal", None, scrub(refusal)))
        if answer is None:
            if response.status == "failed":
                return done(ItemError("server_error", None, "the response failed"))
            reason = response.incomplete_details.reason if response.incomplete_details else None
            return done(ItemError("truncated_answer", None, f"no parsed answer ({reason})"))
        record = answer_to_record(answer)
        if isinstance(record, ItemError):
            return done(ItemError(record.code, record.field, scrub(record.message)))
        return done(None, record)

    def _cache_put(
        self, cache: ExtractionCache, sha: str, result: _CallResult, scrub: Scrubber
    ) -> None:
        assert result.record is not None
        try:
            cache.put(
                self.cache_key(sha),
                file_sha256=sha,
                model=self.model,
                prompt_version=self.prompt_version,
                schema_hash=schema_hash(),
                record=result.record,
                raw_response=result.raw_response,
                usage=result.usage,
            )
        except Exception as exc:  # a cache write must not lose a paid-for answer
            log.warning("extraction cache write failed: %s", scrub(f"{type(exc).__name__}: {exc}"))


def _failed(
    name: str, sha: str, error: ItemError, ms: float | None, status: int | None
) -> ExtractedItem:
    return ExtractedItem(InboxItem(name, None, sha, None, error), ms, status)


def _outcome(name: str, sha: str, result: _CallResult) -> ExtractedItem:
    item = InboxItem(name, None, sha, result.record, result.error)
    return ExtractedItem(item, result.extraction_ms, result.http_status)
