"""The OpenAI extractor: PDFs and images of Turkish electricity invoices → extraction records.

What it is for: the real vision extractor behind the ``Extractor`` interface (SPEC §2, §4.1). One
call per document to the Responses API with structured outputs (``InvoiceAnswer``), converted into
the domain's ``ExtractionRecord`` and validated by ``records.parse_record``. Files are checked
before any call (``empty_file``, ``file_too_large``, ``unsupported_type``, ``unreadable_pdf``), a
cache keyed by (file sha256, model, prompt version, answer-schema hash) makes reruns of unchanged
files free, and a bounded thread pool sharing one client caps requests in flight inside a step
(the Dagster pool ``openai`` caps steps across runs, SPEC §9). Every failure is an ``ItemError``
with a distinct code, never an exception:

``rate_limited`` (429 after the client's retries) · ``timeout`` · ``server_error`` (5xx) ·
``auth_error`` (401/403) · ``api_error`` (another 4xx, or a response the client cannot read) ·
``connection_error`` · ``refusal`` · ``truncated_answer`` (cut off or not valid for the answer
schema) · ``schema_violation`` (a well-formed answer the domain record rejects, e.g. a confidence
outside 0..1; the message starts with the domain's own code) · ``extractor_error`` (a bug).

The API key is a secret: it is never logged, never part of an error message or a return value
(messages are scrubbed), and hidden from the resource's ``repr``.

Not for: pre-extracted JSON (``resources/extractor.py``), retry bookkeeping across
materialisations (the extractions asset counts attempts against ``max_attempts``), or judging the
values (validation does that).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import logging
import re
import threading
import time
import traceback
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
import openai
import pydantic
from openai import OpenAI
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine, delete, insert, select

from invoice_assets.domain.privacy import mask_pii
from invoice_assets.domain.records import (
    MAX_EVIDENCE,
    ExtractionRecord,
    InboxItem,
    ItemError,
    parse_record,
    parse_record_bytes,
    sniff_kind,
)
from resources import store_schema as s
from resources.extractor import ExtractedItem
from resources.store import InvoiceStore, utcnow

log = logging.getLogger(__name__)

PROMPT_VERSION = "tr-electricity-v1"

# -- the answer model (OpenAI strict structured outputs) ----------------------------------------
# Strict mode wants every property required, nullability spelled as ``X | None``, no defaults and
# no additional properties. Ranges are not expressed here: the domain record checks them, so a bad
# value becomes a ``schema_violation`` naming the field instead of a refused answer.


class _AnswerModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AnswerField(_AnswerModel):
    """One numeric field as read from the invoice."""

    value: float | None = Field(description="The number in TL, kWh or kW; null if not printed.")
    confidence: float = Field(description="0..1: probability that value is read correctly.")
    evidence: str | None = Field(description="The printed text the value was read from.")
    page: int | None = Field(description="1-based page of the evidence; null if unknown.")


class AnswerInvoice(_AnswerModel):
    """Invoice metadata."""

    invoice_no: str | None = Field(description="Fatura No as printed.")
    ettn: str | None = Field(description="ETTN (UUID of the e-invoice).")
    supplier: str = Field(description="Supplier company name as printed (never empty).")
    invoice_date: str | None = Field(description="Fatura Tarihi as YYYY-MM-DD.")
    invoice_period: str | None = Field(description="Billing period (Dönem) as YYYY-MM.")
    tariff_group: str | None = Field(
        description="mesken, ticarethane, sanayi, tarimsal or aydinlatma."
    )
    voltage_level: str | None = Field(description="AG (alçak gerilim) or OG (orta gerilim).")
    tariff_term: str | None = Field(description="tek_terim or cift_terim.")


class AnswerExtraction(_AnswerModel):
    """The twelve numeric fields of SPEC §4.1."""

    consumption_kwh: AnswerField
    current_active_unit_price_tl_per_kwh: AnswerField
    distribution_unit_price_tl_per_kwh: AnswerField
    demand_qty: AnswerField
    demand_unit_price_tl_per_unit: AnswerField
    invoice_total_with_vat_tl: AnswerField
    energy_total_tl: AnswerField
    distribution_total_tl: AnswerField
    btv_tl: AnswerField
    vat_tl: AnswerField
    yek_amount_tl: AnswerField
    payable_tl: AnswerField


class AnswerLineItem(_AnswerModel):
    """One printed line of the charges table."""

    label: str = Field(description="The line's label as printed.")
    qty: float | None
    unit: str | None
    unit_price: float | None
    amount_tl: float | None
    confidence: float = Field(description="0..1: probability that the line is read correctly.")


class InvoiceAnswer(_AnswerModel):
    """What the model returns for one invoice document."""

    invoice: AnswerInvoice
    extraction: AnswerExtraction
    line_items: list[AnswerLineItem]


@functools.cache
def schema_hash() -> str:
    """sha256 of the answer model's JSON schema (part of the cache key)."""
    schema = json.dumps(InvoiceAnswer.model_json_schema(), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(schema.encode("utf-8")).hexdigest()


def answer_to_record(answer: InvoiceAnswer) -> ExtractionRecord | ItemError:
    """The domain record of an answer; a value the domain refuses gives ``schema_violation``."""
    data = answer.model_dump(mode="python")
    for fv in data["extraction"].values():
        if isinstance(fv.get("evidence"), str):
            fv["evidence"] = fv["evidence"][:MAX_EVIDENCE]  # evidence is a hint, not a value
    result = parse_record({"schema_version": 1, **data})
    if isinstance(result, ItemError):
        return ItemError("schema_violation", result.field, f"{result.code}: {result.message}")
    return result


PROMPT = """\
You extract fields from one Turkish electricity invoice (elektrik faturası) given as a PDF or an
image. Read only what is printed; never compute, guess or fill in a value that is not on the
invoice. Answer with the JSON schema you were given.

Numbers: write them as JSON numbers with '.' as the decimal separator and no thousands
separators. Turkish invoices print "1.234,56" meaning 1234.56 and "%20" meaning 20 percent.
Amounts are in Turkish lira (TL); convert kuruş to TL. Energy in kWh, demand in kW.

Fields (Turkish labels in parentheses):
- consumption_kwh: total active energy consumed in the period (Toplam Tüketim, Aktif Tüketim kWh)
- current_active_unit_price_tl_per_kwh: active energy unit price (Aktif Enerji Birim Fiyatı,
  Enerji Bedeli TL/kWh)
- distribution_unit_price_tl_per_kwh: distribution unit price (Dağıtım Bedeli Birim Fiyatı)
- demand_qty: contracted or measured demand (Güç, Demand, kW); null if not billed
- demand_unit_price_tl_per_unit: demand unit price (Güç Bedeli Birim Fiyatı)
- invoice_total_with_vat_tl: invoice total including VAT (KDV Dahil Toplam, Fatura Tutarı)
- energy_total_tl: active energy charge (Enerji Bedeli, Aktif Enerji Bedeli)
- distribution_total_tl: distribution charge (Dağıtım Bedeli)
- btv_tl: municipal consumption tax (BTV, Belediye Tüketim Vergisi, Elektrik Tüketim Vergisi)
- vat_tl: VAT amount (KDV)
- yek_amount_tl: renewable support charge (YEK Bedeli, YEKDEM); null if not printed
- payable_tl: amount to pay (Ödenecek Tutar), after deductions or carried-over balances

For every field give value, confidence, evidence and page:
- confidence is your probability (0 to 1) that value is exactly what the invoice states;
  use 0 when value is null, below 0.6 when the text is blurred, ambiguous or inferred from layout;
- evidence is the printed text you read the value from (short, verbatim); null when value is null;
- page is the 1-based page number of the evidence; null when value is null.

Invoice metadata: invoice_no (Fatura No), ettn (ETTN), supplier (the selling company),
invoice_date (Fatura Tarihi, YYYY-MM-DD), invoice_period (the consumption month, YYYY-MM),
tariff_group (abone grubu: mesken, ticarethane, sanayi, tarimsal, aydinlatma), voltage_level
(AG or OG), tariff_term (tek_terim or cift_terim). Use null for anything not printed.

line_items: every row of the charges table (label, qty, unit, unit_price, amount_tl, confidence)
in printed order; an empty list if there is no table.
"""

# -- file checks ---------------------------------------------------------------------------------
_PAGE_OBJECT = re.compile(rb"/Type\s*/Page\b")
_OBJECT_STREAM = re.compile(rb"/Type\s*/ObjStm\b")
_STREAM_START = re.compile(rb"stream\r?\n")
_EOF_WINDOW = 2048  # bytes at the end of a PDF that must hold %%EOF
_OBJSTM_SCAN_LIMIT = 256  # object streams inflated when looking for a page object
_OBJSTM_INFLATE_BYTES = 1 << 22
_IMAGE_MIME = {
    b"\x89PNG": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
    b"GIF8": "image/gif",
    b"RIFF": "image/webp",
}


def _has_page_object(content: bytes) -> bool:
    """A ``/Type /Page`` object, in plain text or inside a compressed object stream (PDF 1.5+)."""
    if _PAGE_OBJECT.search(content):
        return True
    for scanned, match in enumerate(_OBJECT_STREAM.finditer(content)):
        if scanned == _OBJSTM_SCAN_LIMIT:
            break
        start = _STREAM_START.search(content, match.end())
        end = content.find(b"endstream", start.end()) if start else -1
        if start is None or end == -1:
            continue
        try:
            inflated = zlib.decompressobj().decompress(
                content[start.end() : end], _OBJSTM_INFLATE_BYTES
            )
        except zlib.error:
            continue
        if _PAGE_OBJECT.search(inflated):
            return True
    return False


def check_document(content: bytes, max_bytes: int) -> tuple[str, ItemError | None]:
    """The document's kind (``pdf`` or ``image``) or the error that stops it before any call."""
    if not content.strip():
        return "empty", ItemError("empty_file", None, "the file is empty")
    if len(content) > max_bytes:
        return "large", ItemError(
            "file_too_large", None, f"{len(content)} bytes > limit {max_bytes}"
        )
    kind = sniff_kind(content)
    if kind not in ("pdf", "image"):
        message = f"content is {kind}, not a PDF or a PNG/JPEG/GIF/WebP image"
        return kind, ItemError("unsupported_type", None, message)
    if kind == "pdf":
        if b"%%EOF" not in content[-_EOF_WINDOW:]:
            return kind, ItemError("unreadable_pdf", None, "no %%EOF at the end (truncated?)")
        if not _has_page_object(content):
            return kind, ItemError("unreadable_pdf", None, "no page object found")
    return kind, None


def _image_mime(content: bytes) -> str:
    for magic, mime in _IMAGE_MIME.items():
        if content.startswith(magic):
            return mime
    return "application/octet-stream"


def document_input(name: str, content: bytes, kind: str) -> list[dict[str, Any]]:
    """The Responses API ``input``: one user message with the prompt and the document."""
    data = base64.b64encode(content).decode("ascii")
    document: dict[str, Any]
    if kind == "pdf":
        document = {
            "type": "input_file",
            "filename": name,
            "file_data": f"data:application/pdf;base64,{data}",
        }
    else:
        url = f"data:{_image_mime(content)};base64,{data}"
        document = {"type": "input_image", "image_url": url, "detail": "high"}
    return [{"role": "user", "content": [{"type": "input_text", "text": PROMPT}, document]}]


# -- the cache -----------------------------------------------------------------------------------


class ExtractionCache:
    """Answers already paid for, in the store's ``extraction_cache`` table (SQLite or PostgreSQL).

    The key covers everything that changes the answer: the file's bytes, the model, the prompt
    version and the answer schema. An entry that no longer parses as a record is ignored.
    """

    def __init__(self, store: InvoiceStore | Engine) -> None:
        self.engine: Engine = store.engine if isinstance(store, InvoiceStore) else store

    @staticmethod
    def key(file_sha256: str, model: str, prompt_version: str, schema_hash: str) -> str:
        joined = "|".join((file_sha256, model, prompt_version, schema_hash))
        return hashlib.sha256(joined.encode("utf-8")).hexdigest()

    def get(self, key: str) -> ExtractionRecord | None:
        return self.get_many([key]).get(key)

    def get_many(self, keys: Iterable[str]) -> dict[str, ExtractionRecord]:
        wanted = sorted(set(keys))
        table = s.extraction_cache
        found: dict[str, ExtractionRecord] = {}
        with self.engine.connect() as conn:
            for at in range(0, len(wanted), 500):
                chunk = wanted[at : at + 500]
                rows = conn.execute(
                    select(table.c.cache_key, table.c.record_json).where(
                        table.c.cache_key.in_(chunk)
                    )
                ).fetchall()
                for row in rows:
                    record = parse_record_bytes(str(row.record_json).encode("utf-8"))
                    if isinstance(record, ExtractionRecord):
                        found[str(row.cache_key)] = record
        return found

    def put(
        self,
        key: str,
        *,
        file_sha256: str,
        model: str,
        prompt_version: str,
        schema_hash: str,
        record: ExtractionRecord,
        raw_response: str | None,
        usage: Mapping[str, Any] | None,
    ) -> None:
        """Insert or replace one entry (delete + insert in one transaction: any backend)."""
        table = s.extraction_cache
        row = {
            "cache_key": key,
            "file_sha256": file_sha256,
            "model": model,
            "prompt_version": prompt_version,
            "schema_hash": schema_hash,
            "record_json": _masked_record(record).model_dump_json(),  # no personal data stored
            "raw_response": _masked_json_text(raw_response),
            "usage_json": json.dumps(dict(usage)) if usage is not None else None,
            "created_at": utcnow(),
        }
        with self.engine.begin() as conn:
            conn.execute(delete(table).where(table.c.cache_key == key))
            conn.execute(insert(table).values(**row))


def _masked_record(record: ExtractionRecord) -> ExtractionRecord:
    """The record with personal data in its evidence masked (as the extractions table keeps it)."""
    fields = {
        name: value.model_copy(update={"evidence": mask_pii(value.evidence)})
        for name, value in record.extraction
    }
    return record.model_copy(update={"extraction": record.extraction.model_copy(update=fields)})


def _masked_json_text(raw: str | None) -> str | None:
    """A raw API answer with personal data masked in each string it holds (numbers, keys and
    structure kept); text that is not JSON is masked as a whole."""
    if raw is None:
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return mask_pii(raw)

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return mask_pii(value)
        if isinstance(value, list):
            return [walk(item) for item in value]
        if isinstance(value, dict):
            return {key: walk(item) for key, item in value.items()}
        return value

    return json.dumps(walk(data), ensure_ascii=False)


# -- the extractor -------------------------------------------------------------------------------


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


_SECRET_LIKE = re.compile(r"\b(sk|sess|org|proj)-[A-Za-z0-9_\-*]{6,}")


class _Scrubber:
    """Removes the key (and anything that looks like an OpenAI secret) from a message."""

    def __init__(self, secret: str) -> None:
        self._secret = secret

    def __call__(self, text: str, limit: int = 300) -> str:
        if self._secret:
            text = text.replace(self._secret, "***")
        return _SECRET_LIKE.sub(r"\1-***", text)[:limit]


class _StatusCounter:
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
        default=60.0, gt=0, description="Timeout of one HTTP attempt, in seconds."
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
        scrub = _Scrubber(self.api_key)
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

        counter = _StatusCounter()
        totals = {"input_tokens": 0, "output_tokens": 0}
        client: OpenAI | None = None
        if todo:
            try:
                client = self._client(counter, self.timeout_seconds, self.max_retries)
            except openai.OpenAIError as exc:  # no key at all: fail the documents, not the step
                error = ItemError("auth_error", None, scrub(f"no usable client: {exc}"))
                for sha, indexes in todo.items():
                    for index in indexes:
                        results[index] = _failed(docs[index][0], sha, error, None, None)
                todo = {}
        if client is not None:
            with client:
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
        scrub = _Scrubber(self.api_key)
        if not self.api_key.strip():
            return "error", "no API key configured (OPENAI_API_KEY is empty)"
        started = time.perf_counter()
        try:
            with self._client(None, timeout_seconds, 0) as client:
                page = client.models.list(timeout=timeout_seconds)
                ids = {model.id for model in page.data}
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

    def _client(self, counter: _StatusCounter | None, timeout: float, retries: int) -> OpenAI:
        hooks: dict[str, list[Callable[..., Any]]] = {}
        if counter is not None:
            hooks["response"] = [counter]
        return OpenAI(
            api_key=self.api_key,
            base_url=self.base_url,
            timeout=timeout,
            max_retries=retries,
            http_client=openai.DefaultHttpxClient(timeout=timeout, event_hooks=hooks),
        )

    def _call(
        self, client: OpenAI, name: str, content: bytes, kind: str, scrub: _Scrubber
    ) -> _CallResult:
        """One document through the API; every outcome is a ``_CallResult``, never an exception."""
        started = time.perf_counter()
        status: int | None = None
        usage: dict[str, int] | None = None
        raw_text: str | None = None

        def done(error: ItemError | None, record: ExtractionRecord | None = None) -> _CallResult:
            ms = (time.perf_counter() - started) * 1000.0
            if error is not None:
                log.warning("extraction of %s failed: %s (%s)", name, error.code, error.message)
            return _CallResult(record, error, ms, status, usage, raw_text)

        try:
            raw = client.responses.with_raw_response.parse(
                model=self.model,
                input=document_input(name, content, kind),  # type: ignore[arg-type]
                text_format=InvoiceAnswer,
                store=False,
                max_output_tokens=self.max_output_tokens,
            )
            status = raw.http_response.status_code
            raw_text = raw.text
            usage = _usage(raw_text)
            response = raw.parse()
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
        except openai.ContentFilterFinishReasonError:
            return done(ItemError("refusal", None, "the answer was stopped by the content filter"))
        except (openai.LengthFinishReasonError, pydantic.ValidationError, ValueError) as exc:
            detail = _truncation_detail(raw_text, exc)
            return done(ItemError("truncated_answer", None, scrub(detail)))
        except Exception as exc:  # one bad document must not stop the others
            trace = scrub(traceback.format_exc(), 4000)
            log.error("unexpected error extracting %s:\n%s", name, trace)
            return done(ItemError("extractor_error", None, scrub(f"{type(exc).__name__}: {exc}")))

        refusal = _refusal(response)
        if refusal is not None:
            return done(ItemError("refusal", None, scrub(refusal)))
        answer = response.output_parsed
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
        self, cache: ExtractionCache, sha: str, result: _CallResult, scrub: _Scrubber
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


def _usage(raw_text: str) -> dict[str, int] | None:
    try:
        usage = json.loads(raw_text).get("usage") or {}
        return {
            "input_tokens": int(usage.get("input_tokens") or 0),
            "output_tokens": int(usage.get("output_tokens") or 0),
        }
    except (ValueError, AttributeError, TypeError):
        return None


def _refusal(response: Any) -> str | None:
    for output in response.output or []:
        if getattr(output, "type", None) != "message":
            continue
        for content in output.content or []:
            if getattr(content, "type", None) == "refusal":
                return str(getattr(content, "refusal", "") or "refused")
    details = getattr(response, "incomplete_details", None)
    if details is not None and getattr(details, "reason", None) == "content_filter":
        return "stopped by the content filter"
    return None


def _truncation_detail(raw_text: str | None, exc: Exception) -> str:
    reason = None
    if raw_text:
        try:
            details = json.loads(raw_text).get("incomplete_details") or {}
            reason = details.get("reason")
        except (ValueError, AttributeError):
            reason = None
    if reason:
        return f"the answer was cut off ({reason})"
    if isinstance(exc, pydantic.ValidationError):
        first = exc.errors(include_url=False)[0]
        loc = ".".join(str(part) for part in first["loc"])
        return f"the answer does not fit the schema: {loc}: {first['msg']}"
    return f"the answer could not be read: {type(exc).__name__}"
