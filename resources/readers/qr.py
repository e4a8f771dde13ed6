"""The e-Fatura QR code: decoded from a page's images, it grounds or corrects the text reading.

What it is for: most e-Fatura/e-Arşiv PDFs carry a QR code whose JSON payload holds the exact
ETTN, invoice number and totals (facts §5). ``find_payload`` decodes it with OpenCV from the
embedded images of a page (upscaled ×2–4 with a white border when the plain image does not
decode); ``apply_payload`` checks a record against it: ``vergidahil`` grounds the VAT-inclusive
total (agreement raises its confidence; disagreement takes the QR's value at a confidence below
LOW_CONFIDENCE and says both values in the evidence), ``hesaplanankdv(20)`` the VAT, ``odenecek``
the payable only when it agrees (it is sometimes the unrounded total), ``ettn``/``no`` fill the
record's when it has none. Payload keys are matched case-insensitively. The payload holds tax
ids: it is never stored, only the values it grounds.

Not for: reading the text (``resources/readers/text_invoice.py``) or rendering pages.
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np

# Confidence of a field the QR agrees with, one it fills, and one it contradicts (below the
# LOW_CONFIDENCE threshold of config/thresholds.yaml, so the invoice goes to review).
GROUNDED = 0.99
FILLED = 0.9
CONTRADICTED = 0.4
TOLERANCE_TL = Decimal("0.01")
MAX_SIDE = 2400  # pixels: an image is not upscaled past this (bigger costs seconds)


def _decode(detector: Any, image: np.ndarray) -> str | None:
    try:
        text, _, _ = detector.detectAndDecode(image)
    except Exception:  # OpenCV raises cv2.error on odd images: no QR, not a failure
        return None
    return text or None


def decode_qr(image: np.ndarray) -> str | None:
    """The text of a QR code in ``image`` (gray or BGR), trying ×1 then ×2–4 with a border."""
    import cv2

    if image is None or image.size == 0 or min(image.shape[:2]) < 21:
        return None
    if image.ndim == 2:
        gray = image
    elif image.shape[2] == 4:
        gray = cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY)
    else:
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    detector = cv2.QRCodeDetector()
    found = _decode(detector, gray)
    if found:
        return found
    height, width = gray.shape[:2]
    if min(height, width) >= 300:  # a page or screenshot: its quarters, top right first
        half_y, half_x = height // 2, width // 2
        for top, left in ((0, half_x), (0, 0), (half_y, half_x), (half_y, 0)):
            quarter = gray[top : top + half_y, left : left + half_x]
            found = _decode(detector, quarter) or _scaled(detector, quarter, 2)
            if found:
                return found
        return None
    return _scaled(detector, gray)


def _scaled(detector: Any, gray: np.ndarray, most: int = 4) -> str | None:
    """Upscaled ×2–4 with a white border (helps small codes, facts §5)."""
    import cv2

    for factor in range(2, most + 1):
        if max(gray.shape[:2]) * factor > MAX_SIDE:
            break
        bigger = cv2.resize(gray, None, fx=factor, fy=factor, interpolation=cv2.INTER_NEAREST)
        pad = 8 * factor
        bordered = cv2.copyMakeBorder(bigger, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=255)
        found = _decode(detector, bordered)
        if found:
            return found
    return None


def parse_payload(text: str | None) -> dict[str, str] | None:
    """The QR's JSON object with keys lower-cased and values as text; None if it is not one."""
    if not text:
        return None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    return {str(k).strip().lower(): str(v).strip() for k, v in data.items() if v is not None}


def find_payload(images: list[np.ndarray]) -> dict[str, str] | None:
    """The first e-Fatura QR payload among ``images`` (a JSON object with a total or ETTN)."""
    for image in images:
        payload = parse_payload(decode_qr(image))
        if payload and ({"vergidahil", "ettn", "odenecek"} & payload.keys()):
            return payload
    return None


def _amount(payload: dict[str, str], *keys: str) -> Decimal | None:
    for key in keys:
        text = payload.get(key)
        if text:
            try:
                value = Decimal(text.replace(",", "."))
            except InvalidOperation:
                continue
            if value.is_finite():
                return value
    return None


def matches(record: dict[str, Any], payload: dict[str, str]) -> bool:
    """Whether the payload can belong to ``record`` (same ETTN or number, where both are known)."""
    meta = record.get("invoice", {})
    ettn, number = payload.get("ettn"), payload.get("no")
    if ettn and meta.get("ettn"):
        return str(meta["ettn"]).lower() == ettn.lower()
    if number and meta.get("invoice_no"):
        return str(meta["invoice_no"]).upper() == number.upper()
    return True


def _set(
    record: dict[str, Any], field: str, value: Decimal | None, confidence: float, note: str
) -> None:
    """Adjust one field: a new value (if given), the confidence and a note in the evidence."""
    from resources.readers.confidence import adjust_field

    adjust_field(
        record,
        field,
        value=float(value) if value is not None else None,
        confidence=confidence,
        note=note,
    )


def _check(
    record: dict[str, Any], field: str, qr: Decimal | None, key: str, *, correct: bool
) -> None:
    if qr is None:
        return
    current = (record.get("extraction") or {}).get(field) or {}
    value, confidence = current.get("value"), float(current.get("confidence") or 0.0)
    if value is None:
        _set(record, field, qr, FILLED, f"QR {key} {qr} (not found in the text)")
    elif abs(Decimal(str(value)) - qr) <= TOLERANCE_TL:
        _set(record, field, None, max(confidence, GROUNDED), f"QR {key} {qr} agrees")
    elif correct:
        note = f"QR {key} {qr} disagrees with the text's {value}: QR value kept, check it"
        _set(record, field, qr, min(confidence, CONTRADICTED), note)


def apply_payload(record: dict[str, Any], payload: dict[str, str]) -> dict[str, Any]:
    """``record`` checked against a QR payload (changed in place and returned)."""
    meta = record.setdefault("invoice", {})
    if payload.get("ettn") and not meta.get("ettn"):
        meta["ettn"] = payload["ettn"][:512]
    if payload.get("no") and not meta.get("invoice_no"):
        meta["invoice_no"] = payload["no"][:512]
    _check(record, "invoice_total_with_vat_tl", _amount(payload, "vergidahil"), "vergidahil",
           correct=True)  # fmt: skip
    _check(record, "vat_tl", _amount(payload, "hesaplanankdv(20)", "hesaplanankdv"),
           "hesaplanankdv", correct=False)  # fmt: skip
    payable = _amount(payload, "odenecek")
    current = (record.get("extraction") or {}).get("payable_tl") or {}
    # odenecek is sometimes the unrounded total: it grounds the payable only when it agrees
    if (
        payable is not None
        and current.get("value") is not None
        and abs(Decimal(str(current["value"])) - payable) <= TOLERANCE_TL
    ):
        confidence = max(float(current.get("confidence") or 0), GROUNDED)
        _set(record, "payable_tl", None, confidence, f"QR odenecek {payable} agrees")
    return record
