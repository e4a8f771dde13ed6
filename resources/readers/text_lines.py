"""Lines of invoice text as labelled segments, and the label vocabulary (EXTRACTION-FACTS §3).

What it is for: cutting each cleaned line into segments (a label followed by its values; a second
label after a value starts a new segment, since text extraction puts two columns on one line),
naming what a segment's label is (energy line, distribution, BTV, VAT, base, total, payable, …),
and finding the ``qty × unit_price = amount`` triple of a billing line by arithmetic, which also
settles ambiguous ``d{1,3}.ddd`` numbers (facts §4, §7).

Not for: choosing among segments or building records (``text_invoice.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from itertools import combinations, product

from resources.readers.numbers import Number, find_numbers
from resources.readers.text_clean import label_key

UNIT_WORDS = frozenset(
    {"kwh", "kw", "kvarh", "kvar", "kvah", "mwh", "tl", "try", "tlkwh", "krkwh", "kr", "tlkw"}
    | {"tlmwh", "adet", "gun", "ay", "x", "tlay", "kwhay", "birim", "kilovat", "kilowatt", "saat"}
    | {"kws", "kwsaat", "kilovatsaat"}
)
KWH_UNITS = frozenset({"kwh", "kw", "mwh"})
_WORD = re.compile(r"\S+")
# A unit price of energy or distribution above this (TL/kWh) is no price: the factor is the qty.
PRICE_CEILING_TL = Decimal(40)
MAX_LINE_NUMBERS = 12
_KURUS = re.compile(r"(?i)(?<![a-zçğıöşü])(kr|kuruş|kurus)(?![a-zçğıöşü])")


@dataclass(frozen=True)
class Segment:
    """A label and the values printed after it (on its line, or on value-only lines below)."""

    page: int  # 1-based
    line_no: int  # index of the line within its invoice
    text: str  # as printed (cleaned)
    key: str  # label_key of the label words only (no digits from values)
    kind: str | None
    numbers: tuple[Number, ...]

    @property
    def amounts(self) -> list[Number]:
        return [n for n in self.numbers if not n.percent]


def _is_label_word(word: str) -> bool:
    key = label_key(word)
    return sum(c.isalpha() for c in key) > 1 and key not in UNIT_WORDS and not key[:1].isdigit()


def split_segments(line: str) -> list[tuple[str, str]]:
    """``[(label, segment_text)]``: a label word after a word holding digits starts a segment."""
    out: list[tuple[int, int, int]] = []  # (start, label_end, end)
    start = 0
    label_end = -1
    seen_value = False
    for match in _WORD.finditer(line):
        word = match.group(0)
        if _is_label_word(word):
            if seen_value:
                out.append((start, label_end, match.start()))
                start, label_end, seen_value = match.start(), -1, False
            if label_end == -1 or not seen_value:
                label_end = match.end()
        elif any(c.isdigit() for c in word):
            seen_value = True
    out.append((start, label_end, len(line)))
    return [
        (line[s:le] if le > s else "", line[s:e].strip()) for s, le, e in out if line[s:e].strip()
    ]


def classify(key: str) -> str | None:
    """What a label names, from its folded key (``label_key``); None for anything else."""

    def has(*words: str) -> bool:
        return any(w in key for w in words)

    if not key:
        return None
    if has("yuvarlama"):
        return "rounding"
    if has("gecenyil", "oncekidonem", "oncekifatura", "gecmis", "oncekiay"):
        return None  # another period's figures (history tables, carried debts)
    if has("odenecek", "odenmesigereken", "payable"):
        return "payable"
    if has("haric") and has("kdv", "vergi"):
        return "base"
    if has("matrah"):
        return "vat_base"
    if has("faturatutari", "vergilerdahil", "vergidahil", "kdvdahil", "toplamtotal"):
        return "total"
    if has("toplamtutar") and not has("malhizmet", "iskonto", "kdv", "vergi"):
        return "total"  # weak: arithmetic decides against a stronger label
    if has("geneltoplam", "faturatoplami", "faturatoplamtutari", "odemetutari"):
        return "total"
    if has("kdv", "katmadeger"):
        return "vat"
    if has(
        "btv", "belediyetuketimvergisi", "tuketimvergisi", "havagaz", "tukver"
    ) or key.startswith("etv"):
        return "btv"
    if key.startswith("yek") or has("yekbedel", "yekdem", "yenilenebilir"):
        return "yek"
    if has("dagitim", "dagbed"):
        return "distribution"
    if has("gucbedel") and not has("asim"):
        return "demand"
    if has("reaktif", "kvarh", "endeks", "indeks", "ortalama", "istatistik", "carpan", "sayac"):
        return None
    if has("kapasitif", "enduktif"):
        return None
    if has("gunduz", "puant", "gece") and not has("toplam"):
        return "energy_band"  # a band's billing line only when its arithmetic holds
    if has("aktifenerji", "enerjibedel", "enerjituk", "enerjisatis", "tekzaman", "kademe"):
        return "energy_total" if has("toplam") else "energy"
    if has("ektuketim", "tuketimbedel"):
        return "energy"
    if has("toplamtuketim", "tuketimtoplam", "faturalanantuketim", "tuketimmiktari"):
        return "consumption_total"
    if key.startswith("tuketim") and len(key) <= 12:
        return "consumption_total"
    return None


# Labels of a header row whose values are printed in the row below (a summary box):
# tried longest first at each position of the row's key.
_COLUMN_LABELS = (
    ("toplamodenecek", "payable"),
    ("odenecek", "payable"),
    ("vergilerdahil", "total"),
    ("faturatutari", "total"),
    ("kdvdahil", "total"),
    ("geneltoplam", "total"),
    ("kdvharic", "base"),
    ("kdvmatrahi", "base"),
    ("matrah", "base"),
    ("kdv", "vat"),
    ("btv", "btv"),
    ("tuketimvergisi", "btv"),
    ("enerjibedeli", "energy_total"),
    ("dagitimbedeli", "distribution"),
    ("yuvarlama", "rounding"),
    ("sonodemetarihi", None),
    ("faturatarihi", None),
)


def column_kinds(key: str) -> list[tuple[str, str | None]]:
    """``[(label word, kind)]`` of a header row's labels in printed order (``None``: a label
    whose value is no amount, such as a date, kept to hold its column's place)."""
    found: list[tuple[str, str | None]] = []
    at = 0
    while at < len(key):
        for word, kind in _COLUMN_LABELS:
            if key.startswith(word, at):
                found.append((word, kind))
                at += len(word)
                break
        else:
            at += 1
    return found


def segments_of(page: int, line_no: int, line: str) -> list[Segment]:
    found: list[Segment] = []
    for label, text in split_segments(line):
        key = "".join(c for c in label_key(label) if not c.isdigit())
        kind = classify(key)
        found.append(Segment(page, line_no, text, key, kind, tuple(find_numbers(text))))
    return found


@dataclass(frozen=True)
class Triple:
    """A billing line's ``qty × unit_price = amount``, as it held."""

    qty: Decimal
    unit_price: Decimal
    amount: Decimal
    price_decimals: int
    allowance: Decimal
    error: Decimal


def _places(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def _unit_after(line: str, n: Number) -> str | None:
    """The quantity unit printed right after a number (``kwh``, ``kw``, ``mwh``), if any."""
    rest = line[n.end :].split()
    unit = label_key(rest[0]) if rest else ""
    return unit if unit in KWH_UNITS else None


def _roles(
    line: str, a: Number, av: Decimal, b: Number, bv: Decimal, ceiling: Decimal | None
) -> tuple[Decimal, Decimal, int, Number]:
    """``(qty, unit_price, price decimals, the qty's number)`` of two factors: the one a kWh
    unit follows is the quantity; else one above the price ceiling (no kWh costs 40 TL); else
    the one printed with fewer decimals; else the larger."""
    a_unit, b_unit = _unit_after(line, a) is not None, _unit_after(line, b) is not None
    if a_unit != b_unit:
        a_is_qty = a_unit
    elif ceiling is not None and (abs(av) > ceiling) != (abs(bv) > ceiling):
        a_is_qty = abs(av) > ceiling
    elif _places(av) != _places(bv):
        a_is_qty = _places(av) < _places(bv)
    else:
        a_is_qty = abs(av) >= abs(bv)
    return (av, bv, _places(bv), a) if a_is_qty else (bv, av, _places(av), b)


def find_triple(
    text: str, numbers: list[Number], *, price_ceiling: Decimal | None = PRICE_CEILING_TL
) -> Triple | None:
    """The ``qty × unit_price ≈ amount`` among ``numbers`` within facts §7's allowance
    (``|qty| × 0.5·10^-d + 0.01 TL``, ``d`` = printed price decimals); the amount is tried from
    the right, every reading of an ambiguous number is tried, the first that holds wins."""
    numbers = numbers[-MAX_LINE_NUMBERS:]  # a billing line prints a handful; bound the search
    count = len(numbers)
    for k in range(count - 1, -1, -1):
        others = [i for i in range(count) if i != k]
        pairs = sorted(combinations(others, 2), key=lambda ij: -(ij[0] + ij[1]))
        for i, j in pairs:
            triple = _check(text, numbers[i], numbers[j], numbers[k], price_ceiling)
            if triple is not None:
                return triple
    return None


def _check(
    text: str, a: Number, b: Number, amount_n: Number, ceiling: Decimal | None
) -> Triple | None:
    kurus = bool(_KURUS.search(text))
    for av, bv, amount in product(a.values, b.values, amount_n.values):
        qty, price, places, qty_number = _roles(text, a, av, b, bv, ceiling)
        if qty == 0 or price == 0 or amount == 0 or _places(amount) >= 3:
            continue  # an amount of money has at most two decimals
        allowance = abs(qty) * Decimal(5) * Decimal(10) ** -(places + 1) + Decimal("0.01")
        scale = Decimal(1)
        error = abs(qty * price - amount)
        if error > allowance and kurus:  # a price in kuruş per kWh (kr/kWh)
            scale, allowance = Decimal(100), allowance / 100 + Decimal("0.01")
            error = abs(qty * price / scale - amount)
        if error <= allowance:
            price = price / scale
            if _unit_after(text, qty_number) == "mwh":  # MWh × TL/MWh: billed in kWh
                qty, price = qty * 1000, price / 1000
            return Triple(qty, price, amount, places, allowance, error)
    return None
