"""What the stand-in answers: the extractor's answer shape for a document, and which document.

What it is for: the JSON answer the stand-in puts in ``output_text``. ``default_answer`` builds a
deterministic, internally consistent answer whose invoice number derives from the document's
sha256, so different documents never share an invoice key; ``to_answer`` completes an answer or an
extraction record (SPEC §4.1) to the answer shape; ``document_bytes`` finds the uploaded document
in a Responses request body (``input_file.file_data`` or ``input_image.image_url`` data URL), whose
sha256 picks the answer.

Not for: choosing between given, recorded and default answers (``StandIn.answer_for`` in
``server.py``), the Responses wire format around the answer (``responses.py``), or validating an
answer: values are kept as given, so the client's own checks are what get exercised.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator, Mapping
from typing import Any

from invoice_assets.domain.records import META_FIELDS, NUMERIC_FIELDS

_LINE_FIELDS = ("label", "qty", "unit", "unit_price", "amount_tl", "confidence")


def default_answer(sha256: str) -> dict[str, Any]:
    """A plausible, internally consistent answer for a document with this sha256."""
    kwh, price, dist = 10_000.0, 3.0, 0.61
    energy, distribution = kwh * price, kwh * dist
    btv = round(energy * 0.01, 2)
    vat = round((energy + distribution + btv) * 0.2, 2)
    total = round(energy + distribution + btv + vat, 2)
    values = {
        "consumption_kwh": kwh,
        "current_active_unit_price_tl_per_kwh": price,
        "distribution_unit_price_tl_per_kwh": dist,
        "demand_qty": None,
        "demand_unit_price_tl_per_unit": None,
        "invoice_total_with_vat_tl": total,
        "energy_total_tl": energy,
        "distribution_total_tl": distribution,
        "btv_tl": btv,
        "vat_tl": vat,
        "yek_amount_tl": None,
        "payable_tl": total,
    }
    extraction = {
        name: {
            "value": value,
            "confidence": 0.0 if value is None else 0.95,
            "evidence": None if value is None else f"{name}: {value}",
            "page": None if value is None else 1,
        }
        for name, value in values.items()
    }
    return {
        "invoice": {
            "invoice_no": f"SI{sha256[:12].upper()}",
            "ettn": None,
            "supplier": "Stand-in Elektrik Perakende A.Ş.",
            "invoice_date": "2025-02-03",
            "invoice_period": "2025-01",
            "tariff_group": "sanayi",
            "voltage_level": "OG",
            "tariff_term": "tek_terim",
        },
        "extraction": extraction,
        "line_items": [
            {
                "label": "Aktif Enerji Bedeli",
                "qty": kwh,
                "unit": "kWh",
                "unit_price": price,
                "amount_tl": energy,
                "confidence": 0.95,
            },
            {
                "label": "Dağıtım Bedeli",
                "qty": kwh,
                "unit": "kWh",
                "unit_price": dist,
                "amount_tl": distribution,
                "confidence": 0.95,
            },
        ],
    }


def to_answer(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The answer shape (every key present) of an answer or an extraction record (SPEC §4.1).

    Values are kept as given, so a recorded answer with a bad value reaches the client unchanged.
    """
    invoice = dict(obj.get("invoice") or {})
    extraction = dict(obj.get("extraction") or {})
    fields = {}
    for name in NUMERIC_FIELDS:
        given = extraction.get(name) or {}
        fields[name] = {
            "value": given.get("value"),
            "confidence": given.get("confidence", 0.0),
            "evidence": given.get("evidence"),
            "page": given.get("page"),
        }
    lines = [
        {key: line.get(key, 0.0 if key == "confidence" else None) for key in _LINE_FIELDS}
        for line in obj.get("line_items") or []
    ]
    return {
        "invoice": {name: invoice.get(name) for name in META_FIELDS},
        "extraction": fields,
        "line_items": lines,
    }


def document_bytes(body: Mapping[str, Any]) -> bytes:
    """The first uploaded document in a Responses request body (empty if there is none)."""
    for content in _content_items(body):
        kind = content.get("type")
        url = None
        if kind == "input_file":
            url = content.get("file_data")
        elif kind == "input_image":
            url = content.get("image_url")
        if isinstance(url, str) and url.startswith("data:") and "," in url:
            try:
                return base64.b64decode(url.split(",", 1)[1], validate=True)
            except (binascii.Error, ValueError):
                return b""
    return b""


def _content_items(body: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    items = body.get("input")
    if not isinstance(items, list):
        return
    for message in items:
        if isinstance(message, Mapping) and isinstance(message.get("content"), list):
            for content in message["content"]:
                if isinstance(content, Mapping):
                    yield content
