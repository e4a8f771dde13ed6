"""UBL-TR XML invoices (and zips of them) → SPEC §4.1 records, with a hardened parser.

What it is for: every e-Fatura / e-Arşiv invoice is issued as UBL 2.1 XML with the TR1.2
customisation (facts §8). The values are exact elements, so their confidence is near 1 when the
document's own arithmetic holds (line qty × price = amount, lines = LineExtensionAmount,
TaxExclusiveAmount + taxes = TaxInclusiveAmount) and lower, saying so in the evidence, when it
does not.

Hardening (invoices come from outside): ``defusedxml`` refuses any DTD, entity declaration and
external reference (``xml_forbidden``: an XML bomb or an external entity is refused before it
expands, never a hang); the document is bounded in bytes (``xml_too_large``) and element depth
(``xml_too_deep``); text that is not well-formed XML is ``xml_invalid``; well-formed XML without an
``Invoice`` element is ``not_an_invoice``. A zip is bounded in members, total uncompressed size and
compression ratio (``zip_too_large``) before anything is inflated, and every XML member becomes a
record or an error of its own (``read_zip``).

Not for: routing (``resources/readers/router.py``) or judging the values (validation does that).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from xml.etree.ElementTree import Element, ParseError

from resources.readers.errors import ReaderError

# Confidence of a value read from an exact element: whose checks hold, and whose checks fail.
EXACT = 0.99
EXACT_UNCHECKED = 0.95
CHECK_FAILED = 0.5
DERIVED = 0.9  # a value computed from exact ones (the unit price of tiered energy lines)

KDV_CODE = "0015"
# GİB tax codes of the electricity consumption tax (BTV / Elektrik ve Havagazı Tüketim Vergisi).
BTV_CODES = frozenset({"4071", "8005"})
BTV_NAMES = ("btv", "tüketim vergisi", "tuketim vergisi", "elk.havagaz", "elk. havagaz")
DISTRIBUTION_NAMES = ("dağıtım", "dagitim", "dağitim")
YEK_NAMES = ("yek",)
DEMAND_NAMES = ("güç", "guc", "demand")
KWH_CODES = frozenset({"KWH"})
PAYABLE_GAP_TL = Decimal(5)  # suppliers round the payable by less than this (facts §3)
KW_CODES = frozenset({"KWT", "KW"})


@dataclass(frozen=True)
class XmlLimits:
    """Bounds on one XML document and on a zip of them."""

    max_bytes: int = 10 * 1024 * 1024
    max_depth: int = 128
    max_members: int = 1000
    max_total_bytes: int = 200 * 1024 * 1024  # uncompressed, all members together
    max_inflation: int = 100  # uncompressed ÷ compressed, per member


def _local(tag: object) -> str:
    text = str(tag)
    return text.rsplit("}", 1)[-1] if "}" in text else text


def parse_xml(content: bytes, limits: XmlLimits | None = None) -> Element:
    """The document's root element, parsed with DTDs, entities and external references refused
    and depth bounded; ``ReaderError`` otherwise."""
    import defusedxml.ElementTree as safe_et
    from defusedxml import DefusedXmlException

    limits = limits or XmlLimits()
    if len(content) > limits.max_bytes:
        raise ReaderError("xml_too_large", f"{len(content)} bytes > limit {limits.max_bytes}")
    try:
        # expat builds the tree without recursion, so depth is checked on the built tree (the
        # size limit above bounds the tree); DTDs, entities and external references are refused
        # before anything expands
        root = safe_et.fromstring(
            content, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except DefusedXmlException as exc:
        raise ReaderError("xml_forbidden", f"refused: {type(exc).__name__} ({exc})") from None
    except ParseError as exc:
        raise ReaderError("xml_invalid", f"not well-formed XML: {exc}") from None
    stack = [(root, 1)]
    while stack:
        element, depth = stack.pop()
        if depth > limits.max_depth:
            raise ReaderError("xml_too_deep", f"elements nest deeper than {limits.max_depth}")
        stack.extend((child, depth + 1) for child in element)
    return root


# -- element access by local names (prefixes vary between integrators) ----------------------------


def _children(element: Element, name: str) -> Iterator[Element]:
    return (child for child in element if _local(child.tag) == name)


def _child(element: Element | None, *path: str) -> Element | None:
    node = element
    for name in path:
        if node is None:
            return None
        node = next(_children(node, name), None)
    return node


def _text(element: Element | None, *path: str) -> str | None:
    node = _child(element, *path) if path else element
    if node is None or node.text is None:
        return None
    text = " ".join(node.text.split())
    return text or None


def _number(element: Element | None, *path: str) -> Decimal | None:
    text = _text(element, *path)
    if text is None:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def _fold(text: str | None) -> str:
    return (text or "").replace("İ", "i").replace("I", "ı").lower()


def _has(text: str | None, names: tuple[str, ...]) -> bool:
    folded = _fold(text)
    plain = folded.replace("ı", "i")
    return any(name in folded or name in plain for name in names)


def _decimals(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


# -- one invoice ----------------------------------------------------------------------------------


@dataclass
class _Line:
    label: str
    qty: Decimal | None
    unit: str | None
    price: Decimal | None
    amount: Decimal | None

    @property
    def arithmetic_holds(self) -> bool | None:
        """qty × price ≈ amount within the printed precision (facts §7); None if unchecked."""
        if self.qty is None or self.price is None or self.amount is None:
            return None
        allowance = abs(self.qty) * Decimal(5) * Decimal(10) ** -(_decimals(self.price) + 1)
        return abs(self.qty * self.price - self.amount) <= allowance + Decimal("0.01")

    @property
    def evidence(self) -> str:
        return (
            f"cac:InvoiceLine '{self.label}': {self.qty} {self.unit or ''} × {self.price} "
            f"= {self.amount}"
        )


def _line(element: Element) -> _Line:
    quantity = _child(element, "InvoicedQuantity")
    unit = quantity.get("unitCode") if quantity is not None else None
    name = _text(element, "Item", "Name") or _text(element, "Item", "Description")
    return _Line(
        label=(name or "(unnamed line)")[:200],
        qty=_number(quantity),
        unit=unit.upper() if unit else None,
        price=_number(element, "Price", "PriceAmount"),
        amount=_number(element, "LineExtensionAmount"),
    )


def _field(value: Decimal | None, confidence: float, evidence: str) -> dict[str, Any]:
    if value is None:
        return {"value": None, "confidence": 0.0, "evidence": None, "page": None}
    return {
        "value": float(value),
        "confidence": confidence,
        "evidence": evidence[:500],
        "page": None,
    }


def _period(invoice: Element) -> str | None:
    """The month of the billing period (the month holding its middle day)."""
    period = _child(invoice, "InvoicePeriod")
    start, end = _text(period, "StartDate"), _text(period, "EndDate")
    try:
        first = date.fromisoformat(start) if start else None
        last = date.fromisoformat(end) if end else None
    except ValueError:
        return None
    if first and last and last >= first:
        middle = first + timedelta(days=(last - first).days // 2)
        return f"{middle.year:04d}-{middle.month:02d}"
    one = first or last
    return f"{one.year:04d}-{one.month:02d}" if one else None


def _supplier(invoice: Element) -> tuple[str, str | None]:
    party = _child(invoice, "AccountingSupplierParty", "Party")
    tax_id = None
    for ident in _children(party, "PartyIdentification") if party is not None else ():
        node = _child(ident, "ID")
        if node is not None and (node.get("schemeID") or "").upper() in ("VKN", "TCKN"):
            digits = (node.text or "").strip()
            if digits.isdigit() and len(digits) in (10, 11):
                tax_id = digits
                break
    name = (
        _text(party, "PartyName", "Name")
        or _text(party, "PartyLegalEntity", "RegistrationName")
        or " ".join(
            part
            for part in (_text(party, "Person", "FirstName"), _text(party, "Person", "FamilyName"))
            if part
        )
        or None
    )
    if not name:
        name = f"VKN {tax_id}" if tax_id else "(unknown supplier)"
    return name[:500], tax_id


def _iso_date(text: str | None) -> str | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text[:10]).isoformat()
    except ValueError:
        return None


def invoice_record(invoice: Element) -> dict[str, Any]:
    """One UBL ``Invoice`` element as a SPEC §4.1 record (a dict ``parse_record`` accepts)."""
    supplier, tax_id = _supplier(invoice)
    currency = _text(invoice, "DocumentCurrencyCode") or "TRY"
    foreign = currency.upper() not in ("TRY", "TL")
    lines = [_line(e) for e in _children(invoice, "InvoiceLine")]

    def kind(line: _Line) -> str:
        if _has(line.label, DISTRIBUTION_NAMES):
            return "distribution"
        if _has(line.label, YEK_NAMES):
            return "yek"
        if line.unit in KW_CODES or (_has(line.label, DEMAND_NAMES) and line.unit != "KWH"):
            return "demand"
        if line.unit in KWH_CODES:
            return "energy"
        return "other"

    kinds = [kind(line) for line in lines]
    extraction: dict[str, dict[str, Any]] = {}

    def conf(checks: list[bool | None]) -> float:
        if foreign:
            return CHECK_FAILED
        if any(c is False for c in checks):
            return CHECK_FAILED
        return EXACT if any(c is True for c in checks) else EXACT_UNCHECKED

    def note(checks: list[bool | None], text: str) -> str:
        if foreign:
            text += f" [currency {currency}, not TRY]"
        if any(c is False for c in checks):
            text += " [check failed: qty × price ≠ amount]"
        return text

    energy = [line for line, k in zip(lines, kinds, strict=True) if k == "energy"]
    if energy:
        qtys = [line.qty for line in energy if line.qty is not None]
        amounts = [line.amount for line in energy if line.amount is not None]
        checks = [line.arithmetic_holds for line in energy]
        kwh = sum(qtys, Decimal(0)) if qtys else None
        total = sum(amounts, Decimal(0)) if amounts else None
        evidence = "; ".join(line.evidence for line in energy)
        extraction["consumption_kwh"] = _field(kwh, conf(checks), note(checks, evidence))
        extraction["energy_total_tl"] = _field(total, conf(checks), note(checks, evidence))
        if len(energy) == 1:
            price = energy[0].price
            extraction["current_active_unit_price_tl_per_kwh"] = _field(
                price, conf(checks), note(checks, evidence)
            )
        elif kwh and total is not None:
            derived = min(conf(checks), DERIVED)
            text = f"energy amount ÷ kWh of {len(energy)} lines ({total} ÷ {kwh}): {evidence}"
            extraction["current_active_unit_price_tl_per_kwh"] = _field(
                total / kwh, derived, note(checks, text)
            )
    for wanted, price_field, total_field in (
        ("distribution", "distribution_unit_price_tl_per_kwh", "distribution_total_tl"),
        ("demand", "demand_unit_price_tl_per_unit", None),
    ):
        found = [line for line, k in zip(lines, kinds, strict=True) if k == wanted]
        if not found:
            continue
        checks = [line.arithmetic_holds for line in found]
        evidence = note(checks, "; ".join(line.evidence for line in found))
        if len(found) == 1:
            extraction[price_field] = _field(found[0].price, conf(checks), evidence)
        if total_field:
            amounts = [line.amount for line in found if line.amount is not None]
            total = sum(amounts, Decimal(0)) if amounts else None
            extraction[total_field] = _field(total, conf(checks), evidence)
        if wanted == "demand":
            qtys = [line.qty for line in found if line.qty is not None]
            qty = sum(qtys, Decimal(0)) if qtys else None
            extraction["demand_qty"] = _field(qty, conf(checks), evidence)
    yek = [line for line, k in zip(lines, kinds, strict=True) if k == "yek"]
    if yek:
        amounts = [line.amount for line in yek if line.amount is not None]
        total = sum(amounts, Decimal(0)) if amounts else None
        extraction["yek_amount_tl"] = _field(
            total, conf([]), "; ".join(line.evidence for line in yek)
        )

    # taxes: KDV by code 0015, BTV by code or name
    vat, btv = Decimal(0), Decimal(0)
    vat_seen, btv_seen, vat_evidence, btv_evidence = False, False, [], []
    vat_check: list[bool | None] = []
    for total_el in _children(invoice, "TaxTotal"):
        for sub in _children(total_el, "TaxSubtotal"):
            scheme = _child(sub, "TaxCategory", "TaxScheme")
            code = _text(scheme, "TaxTypeCode")
            name = _text(scheme, "Name") or _text(sub, "TaxCategory", "Name")
            amount = _number(sub, "TaxAmount")
            if amount is None:
                continue
            base, percent = _number(sub, "TaxableAmount"), _number(sub, "Percent")
            text = f"cac:TaxSubtotal {code or ''} {name or ''}: {amount} (base {base}, %{percent})"
            if code == KDV_CODE or (code is None and _has(name, ("kdv", "katma"))):
                vat += amount
                vat_seen = True
                vat_evidence.append(text)
                if base is not None and percent is not None:
                    expected = base * percent / Decimal(100)
                    vat_check.append(abs(expected - amount) <= Decimal("0.01") * 2)
            elif code in BTV_CODES or _has(name, BTV_NAMES):
                btv += amount
                btv_seen = True
                btv_evidence.append(text)
    if vat_seen:
        extraction["vat_tl"] = _field(
            vat, conf(vat_check), note(vat_check, "; ".join(vat_evidence))
        )
    if btv_seen:
        extraction["btv_tl"] = _field(btv, conf([]), note([], "; ".join(btv_evidence)))

    monetary = _child(invoice, "LegalMonetaryTotal")
    inclusive = _number(monetary, "TaxInclusiveAmount")
    exclusive = _number(monetary, "TaxExclusiveAmount")
    payable = _number(monetary, "PayableAmount")
    rounding = _number(monetary, "PayableRoundingAmount")
    line_total = _number(monetary, "LineExtensionAmount")
    taxes = _number(_child(invoice, "TaxTotal"), "TaxAmount")
    total_checks: list[bool | None] = []
    if inclusive is not None and exclusive is not None and taxes is not None:
        all_taxes = sum(
            (v for v in (_number(t, "TaxAmount") for t in _children(invoice, "TaxTotal")) if v),
            Decimal(0),
        )
        total_checks.append(abs(exclusive + all_taxes - inclusive) <= Decimal("0.02"))
    if line_total is not None and lines and all(line.amount is not None for line in lines):
        summed = sum((line.amount for line in lines if line.amount is not None), Decimal(0))
        total_checks.append(abs(summed - line_total) <= Decimal("0.02"))
    total_text = f"cbc:TaxInclusiveAmount {inclusive}"
    if total_checks and not all(c for c in total_checks):
        total_text += " [check failed: TaxExclusiveAmount + taxes or the lines do not add up]"
    extraction["invoice_total_with_vat_tl"] = _field(
        inclusive, conf(total_checks), note([], total_text)
    )
    payable_text = f"cbc:PayableAmount {payable}"
    payable_checks: list[bool | None] = []
    if payable is not None and inclusive is not None:
        expected_payable = inclusive + (rounding or Decimal(0))
        payable_checks.append(
            abs(payable - inclusive) < PAYABLE_GAP_TL
            or abs(payable - expected_payable) < Decimal(1)
        )
        if rounding:
            payable_text += f" (PayableRoundingAmount {rounding})"
    extraction["payable_tl"] = _field(payable, conf(payable_checks), note([], payable_text))

    line_items = [
        {
            "label": line.label,
            "qty": float(line.qty) if line.qty is not None else None,
            "unit": line.unit,
            "unit_price": float(line.price) if line.price is not None else None,
            "amount_tl": float(line.amount) if line.amount is not None else None,
            "confidence": EXACT if line.arithmetic_holds is not False else CHECK_FAILED,
        }
        for line in lines[:500]
    ]
    meta = {
        "invoice_no": (_text(invoice, "ID") or None),
        "ettn": (_text(invoice, "UUID") or None),
        "supplier": supplier,
        "invoice_date": _iso_date(_text(invoice, "IssueDate")),
        "invoice_period": _period(invoice),
        "tariff_group": None,
        "voltage_level": None,
        "tariff_term": None,
        "supplier_tax_id": tax_id,
    }
    for key in ("invoice_no", "ettn"):
        if meta[key] is not None:
            meta[key] = str(meta[key])[:512]
    return {
        "schema_version": 1,
        "invoice": meta,
        "extraction": extraction,
        "line_items": line_items,
    }


def _invoices(root: Element) -> list[Element]:
    """The ``Invoice`` elements of a document: the root, or those inside an envelope."""
    if _local(root.tag) == "Invoice":
        return [root]
    return [e for e in root.iter() if _local(e.tag) == "Invoice" and _child(e, "ID") is not None]


def read_ubl(content: bytes, limits: XmlLimits | None = None) -> list[dict[str, Any]]:
    """Every invoice of one UBL-TR XML document as a record; ``ReaderError`` otherwise."""
    root = parse_xml(content, limits)
    invoices = _invoices(root)
    if not invoices:
        raise ReaderError(
            "not_an_invoice", f"XML root <{_local(root.tag)}> holds no UBL Invoice element"
        )
    return [invoice_record(invoice) for invoice in invoices]


def read_zip(
    content: bytes, limits: XmlLimits | None = None
) -> list[tuple[str, list[dict[str, Any]] | ReaderError]]:
    """Every XML member of a zip, each its records or its error, in the zip's order.

    The whole archive is refused (``zip_too_large``) when it has too many members or declares
    too much uncompressed data or too high a ratio; members are inflated with a hard cap, so a
    member lying about its size cannot exceed it either. ``zip_invalid`` for a broken archive,
    ``zip_empty`` for one without XML members.
    """
    limits = limits or XmlLimits()
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
        infos = [i for i in archive.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise ReaderError("zip_invalid", f"not a readable zip: {exc}") from None
    if len(infos) > limits.max_members:
        raise ReaderError("zip_too_large", f"{len(infos)} members > limit {limits.max_members}")
    declared = sum(i.file_size for i in infos)
    if declared > limits.max_total_bytes:
        raise ReaderError(
            "zip_too_large",
            f"{declared} uncompressed bytes > limit {limits.max_total_bytes}",
        )
    for info in infos:
        if info.file_size > limits.max_inflation * max(info.compress_size, 1) and info.file_size > (
            1 << 20
        ):
            raise ReaderError(
                "zip_too_large",
                f"member {info.filename!r} inflates {info.file_size // max(info.compress_size, 1)}"
                f"× (> {limits.max_inflation}×): a zip bomb",
            )
    out: list[tuple[str, list[dict[str, Any]] | ReaderError]] = []
    inflated = 0
    for info in infos:
        name = info.filename
        if info.flag_bits & 0x1:
            out.append((name, ReaderError("zip_encrypted", f"member {name!r} is encrypted")))
            continue
        cap = min(limits.max_bytes, limits.max_total_bytes - inflated) + 1
        try:
            with archive.open(info) as member:
                data = member.read(cap)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, RuntimeError) as exc:
            out.append((name, ReaderError("zip_invalid", f"member {name!r}: {exc}")))
            continue
        except NotImplementedError as exc:
            out.append((name, ReaderError("zip_invalid", f"member {name!r}: {exc}")))
            continue
        inflated += len(data)
        if len(data) >= cap:
            raise ReaderError("zip_too_large", f"member {name!r} inflates past its limit")
        head = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
        if head != b"<":
            if name.lower().endswith(".xml"):
                out.append((name, ReaderError("xml_invalid", f"member {name!r} is not XML")))
            continue  # PDFs/XSLT/readme beside the XML: not invoices of their own
        if name.lower().endswith((".xsl", ".xslt")):
            continue
        try:
            out.append((name, read_ubl(data, limits)))
        except ReaderError as exc:
            out.append((name, exc))
    if not out:
        raise ReaderError("zip_empty", "the zip holds no XML invoice")
    return out
