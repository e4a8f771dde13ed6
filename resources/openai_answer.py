"""What the OpenAI extractor asks for and gets back: the prompt, the answer model and its schemas.

What it is for: the strict structured-outputs answer (``InvoiceAnswer``) and its conversion into
the domain's ``ExtractionRecord`` (``answer_to_record``), the extraction ``PROMPT`` and its
``PROMPT_VERSION``, the two schema artefacts built from the model once per process (the
``text.format`` sent with every request, ``text_format``: the SDK's strict JSON schema, ~10 ms of
CPU to build, so never rebuilt per call; and ``schema_hash``, part of the extraction cache key),
and the readers of a Responses API answer (``read_answer``, ``read_refusal``, ``read_usage``).

Not for: calling the API (``resources/openai_extractor.py``), checking files before a call
(``resources/openai_documents.py``) or judging the values (validation does that). Nothing here
imports ``openai`` at module level: the code location loads without it.
"""

from __future__ import annotations

import functools
import hashlib
import json
from typing import TYPE_CHECKING

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from invoice_assets.domain.records import MAX_EVIDENCE, ExtractionRecord, ItemError, parse_record

if TYPE_CHECKING:
    from openai.types.responses import Response, ResponseFormatTextJSONSchemaConfigParam

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


@functools.cache
def text_format() -> ResponseFormatTextJSONSchemaConfigParam:
    """The Responses API ``text.format`` for ``InvoiceAnswer``, built once per process.

    The schema is the openai SDK's own strict conversion, the one ``responses.parse(text_format=
    InvoiceAnswer)`` sends, without rebuilding it per call. Callers must not mutate the returned
    dict (every request shares it).
    """
    from openai.lib._pydantic import to_strict_json_schema  # lazy: openai costs ~0.3 s to import

    return {
        "type": "json_schema",
        "name": InvoiceAnswer.__name__,
        "schema": to_strict_json_schema(InvoiceAnswer),
        "strict": True,
    }


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


# -- reading a Responses API answer ---------------------------------------------------------------
# ``responses.create`` with ``text_format()`` instead of ``responses.parse(text_format=...)``: the
# readers below do what ``parse`` did (validate the final ``output_text``) plus what the extractor
# checked on top (refusals, cut-off answers, usage), on the SDK's ``Response`` object.


def read_answer(response: Response) -> InvoiceAnswer | None:
    """The answer in the response's final ``output_text``, as ``responses.parse`` would read it.

    Every ``output_text`` of a message whose phase is unset or ``final_answer`` is validated
    (``pydantic.ValidationError`` for text that is cut off or not the answer schema); the first is
    the answer. None when there is none (a refusal, a failed or empty response).
    """
    answer: InvoiceAnswer | None = None
    for output in response.output or []:
        if output.type != "message" or getattr(output, "phase", None) not in (None, "final_answer"):
            continue
        for content in output.content or []:
            if content.type == "output_text":
                parsed = parse_answer_text(content.text)
                answer = parsed if answer is None else answer
    return answer


def parse_answer_text(text: str) -> InvoiceAnswer:
    """The answer in ``text``, accepting what OpenAI-compatible servers without strict mode
    return: optional fields that are missing count as null (a missing numeric field inside
    ``extraction`` as ``{"value": null, "confidence": 0}``, missing line items as none); the
    ``invoice`` and ``extraction`` objects and the supplier stay required.
    ``pydantic.ValidationError`` (the strict reading's, naming its first bad field) for text that
    is not JSON or does not fit even so."""
    try:
        return InvoiceAnswer.model_validate_json(text)
    except pydantic.ValidationError as strict:
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            raise strict from None
        if not isinstance(data, dict):
            raise strict from None
        _fill_missing(data)
        try:
            return InvoiceAnswer.model_validate(data)
        except pydantic.ValidationError:
            raise strict from None


def _fill_missing(data: dict[str, object]) -> None:
    invoice = data.get("invoice")
    if isinstance(invoice, dict):
        for name in AnswerInvoice.model_fields:
            if name != "supplier":
                invoice.setdefault(name, None)
    extraction = data.get("extraction")  # the object itself is required
    if isinstance(extraction, dict):
        for name in AnswerExtraction.model_fields:
            value = extraction.setdefault(name, {"value": None, "confidence": 0.0})
            if isinstance(value, dict):
                for key in ("value", "evidence", "page"):
                    value.setdefault(key, None)
                if value.get("value") is None:
                    value.setdefault("confidence", 0.0)
    items = data.setdefault("line_items", [])
    if isinstance(items, list):
        for item in items:
            if isinstance(item, dict):
                for key in ("qty", "unit", "unit_price", "amount_tl"):
                    item.setdefault(key, None)


def read_refusal(response: Response) -> str | None:
    """The model's refusal text (a ``refusal`` content item, or a content-filter stop), if any."""
    for output in response.output or []:
        if getattr(output, "type", None) != "message":
            continue
        for content in getattr(output, "content", None) or []:
            if getattr(content, "type", None) == "refusal":
                return str(getattr(content, "refusal", "") or "refused")
    if incomplete_reason(response) == "content_filter":
        return "stopped by the content filter"
    return None


def read_usage(response: Response) -> dict[str, int] | None:
    """Input and output tokens billed (0 when the response has no usage; None if unreadable)."""
    try:
        usage = response.usage
        return {
            "input_tokens": int(getattr(usage, "input_tokens", 0) or 0),
            "output_tokens": int(getattr(usage, "output_tokens", 0) or 0),
        }
    except (ValueError, AttributeError, TypeError):
        return None


def incomplete_reason(response: Response | None) -> str | None:
    """Why the response stopped early (``max_output_tokens``, ``content_filter``), if it did."""
    details = getattr(response, "incomplete_details", None)
    reason = getattr(details, "reason", None)
    return str(reason) if reason else None


def answer_error_code(reason: str | None) -> str:
    """``truncated_answer`` for an answer cut off (``status: incomplete``), else
    ``invalid_answer`` (complete, but not JSON or not the answer schema)."""
    return "truncated_answer" if reason else "invalid_answer"


def truncation_detail(reason: str | None, exc: Exception) -> str:
    """The message of a ``truncated_answer`` or ``invalid_answer``: why the answer text could
    not be read."""
    if reason:
        return f"the answer was cut off ({reason})"
    if isinstance(exc, pydantic.ValidationError):
        first = exc.errors(include_url=False)[0]
        loc = ".".join(str(part) for part in first["loc"])
        return f"the answer does not fit the schema: {loc}: {first['msg']}"
    return f"the answer could not be read: {type(exc).__name__}"


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
