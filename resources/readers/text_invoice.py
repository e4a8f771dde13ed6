"""Invoice text → SPEC §4.1 records: the reader behind the PDF text layer, HTML and OCR paths.

What it is for: ``read_invoice_text(pages)`` takes the plain text of each page (a PDF's text layer,
an HTML rendering's rows, OCR lines joined by ``\\n``), splits a bundle into its invoices (a new
invoice number or ETTN starts one), and reads each: billed kWh from the energy lines of the billing
table (tiered lines and negative corrections summed; meter indexes, T1/T2/T3 bands, statistics
and kVArh never), unit prices, distribution, BTV, VAT with its base, total and payable (both kept),
period, number, ETTN, supplier and tariff labels. Every number is chosen by the arithmetic that
checks it (facts §7), which also settles ambiguous ``d{1,3}.ddd`` readings, and its confidence
says which checks held (``confidence.py``).

Not for: getting the text out of a file (``pdf.py``, ``html.py``, the OCR reader).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from invoice_assets.domain.records import MAX_EVIDENCE
from resources.readers.confidence import adjust_field, field_value, low_confidence_default
from resources.readers.errors import ReaderError
from resources.readers.numbers import Number, find_numbers
from resources.readers.text_clean import clean_text
from resources.readers.text_lines import (
    PRICE_CEILING_TL,
    Segment,
    Triple,
    column_kinds,
    find_triple,
    segments_of,
)
from resources.readers.text_meta import (
    find_ettn,
    find_invoice_date,
    find_invoice_no,
    find_period,
    find_supplier,
    find_tariff,
)

__all__ = ["adjust_field", "read_invoice_text"]

VAT_RATES = (Decimal("0.20"), Decimal("0.10"))  # 20 % (facts §3); 10 % for agricultural use
BTV_RATES = (Decimal("0.01"), Decimal("0.05"))
KURUS = Decimal("0.02")  # two roundings to the kuruş
PAYABLE_GAP = Decimal(5)  # suppliers round the payable to whole TL or 5 TL (facts §3)
BILLING_KINDS = ("energy", "distribution", "demand")
MAX_CANDIDATES = 12
CONTINUATION_LINES = 4  # OCR may put qty, unit, price and amount on lines of their own


@dataclass(frozen=True)
class Billed:
    """A billing line read by arithmetic (or, unchecked, from its printed order)."""

    segment: Segment
    evidence: str
    label: str
    triple: Triple | None
    amount: Decimal | None
    qty: Decimal | None = None
    unit_price: Decimal | None = None


@dataclass(frozen=True)
class Value:
    value: Decimal
    segment: Segment
    evidence: str


def read_invoice_text(
    pages: Sequence[str], *, method: str = "text", low_confidence: float | None = None
) -> list[dict[str, Any]]:
    """One SPEC §4.1 record per invoice in ``pages`` (page texts in order; ``""`` for a page
    without text keeps the numbering); ``ReaderError("no_invoice_found")`` when none is there.

    ``low_confidence`` defaults to LOW_CONFIDENCE of ``config/thresholds.yaml``.
    """
    low = low_confidence_default() if low_confidence is None else low_confidence
    page_lines = [clean_text(text).split("\n") for text in pages]
    records = []
    for group in split_invoices(page_lines):
        record = _Invoice(group, method, low).record()
        if record is not None:
            records.append(record)
    if not records:
        raise ReaderError(
            "no_invoice_found",
            f"{len(pages)} page(s) of text hold no invoice number, ETTN, total or energy line",
        )
    return records


def split_invoices(page_lines: list[list[str]]) -> list[list[tuple[int, str]]]:
    """Pages grouped into invoices: a page whose invoice number or ETTN differs from the
    current invoice's starts the next one; a page without either continues the current one."""
    groups: list[list[tuple[int, str]]] = []
    current: dict[str, str | None] = {}
    for page, lines in enumerate(page_lines, start=1):
        if not any(line.strip() for line in lines):
            continue
        number, _ = find_invoice_no(lines)
        ettn, _ = find_ettn(lines, labelled_only=True)  # a stray UUID splits nothing
        clash = (ettn and current.get("ettn") and ettn != current["ettn"]) or (
            number and current.get("no") and number != current["no"]
        )
        if not groups or clash:
            groups.append([])
            current = {"no": number, "ettn": ettn}
        else:
            current["no"] = current.get("no") or number
            current["ettn"] = current.get("ettn") or ettn
        groups[-1].extend((page, line) for line in lines if line.strip())
    return groups


def _money(number: Number) -> list[Decimal]:
    """Readings of a printed amount; a reading with three decimals is no amount of money."""
    money = [v for v in number.values if _places(v) < 3]
    return money or list(number.values)


def _places(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def _near(a: Decimal, b: Decimal, tolerance: Decimal) -> bool:
    return abs(a - b) <= tolerance


def _label_of(segment: Segment) -> str:
    first = next((n.start for n in segment.numbers), len(segment.text))
    return (segment.text[:first].strip(" :-=x×") or segment.key or "line")[:512]


class _Invoice:
    """The reading of one invoice's lines (state kept together while the record is built)."""

    def __init__(self, lines: list[tuple[int, str]], method: str, low: float) -> None:
        self.lines = lines
        self.texts = [text for _, text in lines]
        self.method = method
        self.low = low
        self.segments: list[list[Segment]] = [
            segments_of(page, index, text) for index, (page, text) in enumerate(lines)
        ]
        self._columns_to_segments()
        self.fields: dict[str, dict[str, Any]] = {}
        self.items: list[dict[str, Any]] = []
        # billing lines of a kind printing qty, price and amount whose arithmetic did not hold
        self.unbalanced: dict[str, list[str]] = {}

    def _columns_to_segments(self) -> None:
        """A header row of labels over a row of their values (a summary box) becomes one
        segment per label, so ``Fatura Tutarı  Ödenecek Tutar`` over ``37.450,08  37.450,00``
        reads like two labelled lines. Only when the counts of labels and amounts agree."""
        for index in range(len(self.segments) - 1):
            row, below = self.segments[index], self.segments[index + 1]
            if len(row) != 1 or row[0].numbers or len(below) != 1 or below[0].key:
                continue
            labels = column_kinds(row[0].key)
            amounts = below[0].amounts
            if len([k for _, k in labels if k]) <= 1:
                continue
            dated = [k for _, k in labels if k is None]
            if len(labels) - len(dated) != len(amounts):
                continue
            page = row[0].page
            made: list[Segment] = []
            for (word, kind), number in zip([x for x in labels if x[1]], amounts, strict=True):
                text = f"{row[0].text} » {word} {number.token}"
                made.append(Segment(page, index, text, word, kind, tuple(find_numbers(text))))
            self.segments[index] = [
                Segment(m.page, index, m.text, m.key, m.kind, m.numbers) for m in made
            ]
            self.segments[index + 1] = []

    # -- gathering -------------------------------------------------------------------------

    def _of_kind(self, kind: str) -> Iterable[Segment]:
        for row in self.segments:
            for segment in row:
                if segment.kind == kind:
                    yield segment

    def _continuation(self, segment: Segment, rows: int = CONTINUATION_LINES) -> str:
        """Value-only lines right below a segment (``qty KWH`` printed under its label)."""
        extra: list[str] = []
        for row in self.segments[segment.line_no + 1 : segment.line_no + 1 + rows]:
            if any(s.key for s in row):
                break
            extra.extend(s.text for s in row)  # values, or a unit alone (``kWh``)
        return " ".join(extra)

    def _triple_of(
        self, segment: Segment, ceiling: Decimal | None
    ) -> tuple[Triple | None, str, int]:
        """A segment's arithmetic, with value-only rows below it when it needs them:
        ``(triple, the text it came from, rows used below)``."""
        triple = find_triple(segment.text, segment.amounts, price_ceiling=ceiling)
        if triple is not None:
            return triple, segment.text, 0
        more = self._continuation(segment)
        if not more:
            return None, segment.text, 0
        text = f"{segment.text} {more}"
        numbers = [n for n in find_numbers(text) if not n.percent]
        found = find_triple(text, numbers, price_ceiling=ceiling)
        return found, text, (CONTINUATION_LINES if found is not None else 0)

    def _rows_below(self, segment: Segment, skip: int) -> Iterable[Segment]:
        """Value-only rows right below a billing line (a tier printed without its own label)."""
        for row in self.segments[segment.line_no + 1 + skip :]:
            if len(row) != 1 or row[0].key or len(row[0].amounts) < 3:
                return
            yield row[0]

    def _billed(self, kind: str) -> list[Billed]:
        """The lines of one kind whose arithmetic holds (duplicates printed twice kept once);
        when none holds, the first line of the kind read from its printed order, unchecked.
        Energy also takes band lines (Gündüz/Puant/Gece) whose arithmetic holds."""
        found: list[Billed] = []
        seen: set[tuple[Decimal, Decimal, Decimal]] = set()
        loose: list[Billed] = []
        ceiling = None if kind == "demand" else PRICE_CEILING_TL
        kinds = (kind, "energy_band") if kind == "energy" else (kind,)
        segments = [s for row in self.segments for s in row if s.kind in kinds]

        def add(segment: Segment, text: str, label: str, triple: Triple) -> None:
            key = (triple.qty, triple.unit_price, triple.amount)
            if key not in seen:
                seen.add(key)
                found.append(Billed(segment, text, label, triple, triple.amount))

        for segment in segments:
            triple, text, used = self._triple_of(segment, ceiling)
            if triple is not None:
                add(segment, text, _label_of(segment), triple)
                if used == 0:
                    for row in self._rows_below(segment, 0):
                        below = find_triple(row.text, row.amounts, price_ceiling=ceiling)
                        if below is None:
                            break
                        add(row, row.text, f"{_label_of(segment)} (devam)", below)
                continue
            if segment.kind == "energy_band":
                continue
            amounts = [n for n in find_numbers(text) if not n.percent]
            if len(amounts) >= 3:
                self.unbalanced.setdefault(kind, []).append(text)
            if amounts and not loose:
                qty = amounts[0].values[-1] if len(amounts) >= 3 else None
                price = amounts[-2].values[0] if len(amounts) >= 3 else None
                amount = _money(amounts[-1])[0]
                loose.append(Billed(segment, text, _label_of(segment), None, amount, qty, price))
        return found or loose

    def _values(self, kind: str, *, after_word: str | None = None) -> list[Value]:
        """Every reading of the last amount of each segment of ``kind`` (or, with
        ``after_word``, of the first amount printed after that word)."""
        out: list[Value] = []
        for segment in self._of_kind(kind):
            text = segment.text
            amounts = segment.amounts
            if not amounts:
                more = self._continuation(segment, rows=1)
                text = f"{segment.text} {more}".strip()
                amounts = [n for n in find_numbers(text) if not n.percent]
            if after_word is not None:
                at = segment.text.lower().find(after_word)
                amounts = [n for n in amounts if n.start > at][:1] if at >= 0 else []
            if amounts:
                out.extend(Value(v, segment, text) for v in _money(amounts[-1]))
        return out

    # -- fields ----------------------------------------------------------------------------

    def _set(
        self,
        name: str,
        value: Decimal | None,
        checks: dict[str, bool],
        evidence: str,
        page: int | None,
        note: str | None = None,
    ) -> None:
        self.fields[name] = field_value(
            float(value) if value is not None else None,
            checks,
            printed=evidence,
            page=page,
            low_confidence=self.low,
            method=self.method,
            note=note,
        )

    def _billing(
        self, kind: str, qty_field: str | None, price_field: str, total_field: str | None
    ) -> tuple[Decimal | None, list[Billed]]:
        lines = self._billed(kind)
        if not lines:
            return None, lines
        checked = all(line.triple is not None for line in lines)
        evidence = " + ".join(line.evidence for line in lines)
        page = lines[0].segment.page
        arithmetic = {f"qty × unit price = amount on {len(lines)} line(s)": checked}
        if not checked:
            arithmetic = {}
        if self.unbalanced.get(kind):
            bad = self.unbalanced[kind]
            arithmetic["no other line of the kind fails its arithmetic"] = False
            evidence += " | unbalanced: " + " / ".join(bad)
        qty = sum((line.triple.qty for line in lines if line.triple), Decimal(0))
        amount = sum((line.amount or Decimal(0) for line in lines), Decimal(0))
        if checked and len(lines) == 1:
            price: Decimal | None = lines[0].triple.unit_price  # type: ignore[union-attr]
            note = None
        elif checked and qty != 0:
            price = (amount / qty).quantize(Decimal("0.000001"))
            note = f"unit price = amount ÷ kWh over {len(lines)} tiered lines"
        else:
            qty = lines[0].qty or Decimal(0)
            price = lines[0].unit_price
            note = "read from the printed order; no arithmetic held"
            printed_total = self._consumption_values() if kind == "energy" else []
            if not qty and printed_total and printed_total[0] > 0:
                qty = printed_total[0]
                price = price or (amount / qty).quantize(Decimal("0.000001"))
                note = "kWh from the printed consumption total; no billing line arithmetic held"
        if qty_field is not None:
            extra = dict(arithmetic)
            if kind == "energy" and checked:
                printed = self._printed_consumption(qty)
                if printed is not None:
                    extra["printed consumption total agrees"] = True
            self._set(qty_field, qty if qty else None, extra, evidence, page, note)
        self._set(price_field, price, arithmetic, evidence, page, note)
        if total_field is not None:
            sums = dict(arithmetic)
            if kind == "energy" and any(
                _near(v.value, amount, KURUS) for v in self._values("energy_total")
            ):
                sums["printed energy total agrees"] = True
            self._set(total_field, amount, sums, evidence, page)
        for line in lines:
            triple = line.triple
            self.items.append(
                {
                    "label": line.label,
                    "qty": float(triple.qty) if triple else _float(line.qty),
                    "unit": "kWh" if kind != "demand" else "kW",
                    "unit_price": float(triple.unit_price) if triple else _float(line.unit_price),
                    "amount_tl": _float(line.amount),
                    "confidence": self.fields[price_field]["confidence"],
                }
            )
        return amount, lines

    def _printed_consumption(self, qty: Decimal) -> Decimal | None:
        for value in self._consumption_values():
            if _near(value, qty, Decimal("0.001") * max(Decimal(1), abs(qty))):
                return value
        return None

    def _consumption_values(self) -> list[Decimal]:
        return [v for s in self._of_kind("consumption_total") for n in s.amounts for v in n.values]

    def _taxes_and_totals(self, line_sum: Decimal, energy: Decimal | None) -> None:
        # the first few candidates of each: a real invoice prints each a handful of times
        totals = self._values("total")[:MAX_CANDIDATES]
        vats = (
            self._values("vat") + [v for s in self._of_kind("vat_base") for v in self._vat_of(s)]
        )[:MAX_CANDIDATES]
        bases = (self._values("base") + self._values("vat_base", after_word="matrah"))[
            :MAX_CANDIDATES
        ]
        payables = self._values("payable")
        roundings = self._values("rounding")

        best: tuple[int, Value | None, Value | None, Value | None, dict[str, bool]] | None = None
        for total in _or_none(totals):
            for vat in _or_none(vats):
                for base in _or_none(bases):
                    checks = _money_checks(total, vat, base)
                    held = sum(checks.values())
                    score = 2 * held - (len(checks) - held)
                    if best is None or score > best[0]:
                        best = (score, total, vat, base, checks)
        assert best is not None
        _, total, vat, base, checks = best
        total_value = total.value if total else None
        total_page = total.segment.page if total else None
        total_evidence = total.evidence if total else ""
        if (
            total is None
            and vat is not None
            and base is not None
            and checks.get("VAT = rate × base")
        ):
            total_value = base.value + vat.value
            total_evidence = f"{base.evidence} + {vat.evidence}"
            total_page = vat.segment.page
            checks = {"VAT = rate × base": True}

        base_value = base.value if base is not None else None
        if base_value is None and total_value is not None and vat is not None:
            base_value = total_value - vat.value
        lines_hold = (
            base_value is not None
            and line_sum != 0
            and _near(line_sum, base_value, Decimal("0.05"))
        )
        payable, payable_checks = self._payable(payables, roundings, total_value)
        total_checks = dict(checks)
        if payable is not None and total_value is not None:
            total_checks["|payable − total| < 5 TL"] = payable_checks["|payable − total| < 5 TL"]
        if lines_hold:
            total_checks["billing lines add up to the base"] = True
        self._set(
            "invoice_total_with_vat_tl", total_value, total_checks, total_evidence, total_page
        )
        if vat is not None:
            vat_checks = {k: v for k, v in checks.items() if "VAT" in k or "total" in k}
            self._set("vat_tl", vat.value, vat_checks, vat.evidence, vat.segment.page)
        if payable is not None:
            self._set(
                "payable_tl", payable.value, payable_checks, payable.evidence, payable.segment.page
            )
        elif total_value is not None:
            self._set(
                "payable_tl",
                total_value,
                {},
                total_evidence,
                total_page,
                "no payable printed: the total",
            )
        if lines_hold:
            for name in (
                "consumption_kwh",
                "current_active_unit_price_tl_per_kwh",
                "energy_total_tl",
                "distribution_total_tl",
                "distribution_unit_price_tl_per_kwh",
                "btv_tl",
                "yek_amount_tl",
            ):
                field = self.fields.get(name)
                if field and field.get("value") is not None and field["confidence"] >= self.low:
                    note = " (billing lines add up to the base)"
                    field["evidence"] = field["evidence"][: MAX_EVIDENCE - len(note)] + note
                    field["confidence"] = min(0.99, field["confidence"] + 0.04)

    def _vat_of(self, segment: Segment) -> list[Value]:
        """The VAT of a ``KDV (Matrah x) %20 y`` line: its last amount when the base is not the
        last; else the amount on the value-only line below (OCR puts it there)."""
        amounts = segment.amounts
        if len(amounts) > 1:
            return self._values_of_segment(segment)
        more = self._continuation(segment, rows=1)
        if not amounts or not more:
            return []
        text = f"{segment.text} {more}"
        below = [n for n in find_numbers(more) if not n.percent]
        return [Value(v, segment, text) for v in _money(below[-1])] if below else []

    def _values_of_segment(self, segment: Segment) -> list[Value]:
        amounts = segment.amounts
        return [Value(v, segment, segment.text) for v in _money(amounts[-1])] if amounts else []

    def _payable(
        self, payables: list[Value], roundings: list[Value], total: Decimal | None
    ) -> tuple[Value | None, dict[str, bool]]:
        if not payables:
            return None, {}
        for payable in payables:
            if total is not None and abs(payable.value - total) < PAYABLE_GAP:
                checks = {"|payable − total| < 5 TL": True}
                if roundings and any(
                    _near(total + sum((r.value for r in combo), Decimal(0)), payable.value, KURUS)
                    for combo in _subsets(roundings)
                ):
                    checks["total + rounding = payable"] = True
                return payable, checks
        payable = payables[0]
        return payable, ({"|payable − total| < 5 TL": False} if total is not None else {})

    def record(self) -> dict[str, Any] | None:
        energy, _ = self._billing(
            "energy", "consumption_kwh", "current_active_unit_price_tl_per_kwh", "energy_total_tl"
        )
        dist, _ = self._billing(
            "distribution", None, "distribution_unit_price_tl_per_kwh", "distribution_total_tl"
        )
        demand, _ = self._billing("demand", "demand_qty", "demand_unit_price_tl_per_unit", None)
        btv = self._values("btv")
        yek = self._values("yek")
        line_sum = sum((x for x in (energy, dist, demand) if x is not None), Decimal(0))
        if btv:
            # the BTV whose rate holds against the energy amount; else the largest printed
            # (a totals line beats the per-line shares the e-Fatura viewer also prints)
            def rate_holds(value: Value) -> bool:
                return energy is not None and any(
                    _near(value.value, energy * rate, KURUS + abs(energy) * Decimal("0.00005"))
                    for rate in BTV_RATES
                )

            held = [value for value in btv if rate_holds(value)]
            chosen = held[0] if held else max(btv, key=lambda value: value.value)
            checks = {"BTV = 1 % or 5 % of energy": True} if held else {}
            self._set("btv_tl", chosen.value, checks, chosen.evidence, chosen.segment.page)
            line_sum += chosen.value
            self.items.append(
                _amount_item(_label_of(chosen.segment), chosen.value, self.fields["btv_tl"])
            )
        if yek:
            self._set("yek_amount_tl", yek[0].value, {}, yek[0].evidence, yek[0].segment.page)
            line_sum += yek[0].value
        self._taxes_and_totals(line_sum, energy)
        if "vat_tl" in self.fields:
            vat = self.fields["vat_tl"]
            self.items.append(_amount_item("KDV", Decimal(str(vat["value"])), vat))
        number, _ = find_invoice_no(self.texts)
        ettn, _ = find_ettn(self.texts)
        has_money = any(
            self.fields.get(k, {}).get("value") is not None
            for k in (
                "invoice_total_with_vat_tl",
                "payable_tl",
                "consumption_kwh",
                "energy_total_tl",
            )
        )
        if not (number or ettn or has_money):
            return None
        first_page = self.lines[0][0]
        supplier, tax_id = find_supplier([t for p, t in self.lines if p == first_page])
        if supplier is None:
            supplier, tax_id = find_supplier(self.texts)
        group, voltage, term = find_tariff(self.texts)
        invoice: dict[str, Any] = {
            "invoice_no": number,
            "ettn": ettn,
            "supplier": supplier or "unknown supplier",
            "invoice_date": find_invoice_date(self.texts),
            "invoice_period": find_period(self.texts),
            "tariff_group": group,
            "voltage_level": voltage,
            "tariff_term": term,
        }
        if tax_id is not None:
            invoice["supplier_tax_id"] = tax_id
        return {
            "schema_version": 1,
            "invoice": invoice,
            "extraction": self.fields,
            "line_items": self.items[:500],
        }


def _money_checks(total: Value | None, vat: Value | None, base: Value | None) -> dict[str, bool]:
    checks: dict[str, bool] = {}
    if vat is not None and base is not None:
        checks["VAT = rate × base"] = any(
            _near(vat.value, (base.value * rate).quantize(Decimal("0.01")), KURUS)
            for rate in VAT_RATES
        )
        if total is not None:
            checks["base + VAT = total"] = _near(base.value + vat.value, total.value, KURUS)
    elif vat is not None and total is not None:
        checks["VAT = rate × (total − VAT)"] = any(
            _near(vat.value, ((total.value - vat.value) * rate).quantize(Decimal("0.01")), KURUS)
            for rate in VAT_RATES
        )
    return checks


def _or_none(values: list[Value]) -> list[Value | None]:
    return list(values) if values else [None]


def _subsets(values: list[Value]) -> list[list[Value]]:
    values = values[:4]
    return [
        [v for i, v in enumerate(values) if mask >> i & 1] for mask in range(1, 1 << len(values))
    ]


def _float(value: Decimal | None) -> float | None:
    return float(value) if value is not None else None


def _amount_item(label: str, amount: Decimal, field: dict[str, Any]) -> dict[str, Any]:
    return {
        "label": label[:512],
        "qty": None,
        "unit": None,
        "unit_price": None,
        "amount_tl": float(amount),
        "confidence": field["confidence"],
    }
