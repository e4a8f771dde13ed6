"""Turkish number parsing (EXTRACTION-FACTS §4): every printed form, ambiguity kept, never guessed.

What it is for: turning one printed token (``1.284.316,42``, ``51820,35``, ``18340.27``, ``,000``,
``%20,00``, ``123.456,789 KWH``) into a ``Decimal``. The one ambiguous shape, ``d{1,3}.ddd``
(``148.206`` a decimal on one invoice, ``100.000`` a thousands group on another), has two readings:
``parse_tr_number`` returns None for it and ``number_candidates`` returns both, so the caller picks
by arithmetic (qty × price = amount, base + VAT = total).

Not for: finding numbers in a line (``find_numbers`` does that on cleaned text, see
``text_clean.clean_text``) or deciding what a number means.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

_STRIP = re.compile(r"(?i)(?:TL|TRY|₺|kwh|%|\u00a0|\u202f|\s)")
_SHAPE = re.compile(r"^[-+]?[\d.,]*\d[\d.,]*$")
_GROUPED = re.compile(r"^\d{1,3}(?:\.\d{3})+$")
_GROUPED_COMMA = re.compile(r"^\d{1,3}(?:,\d{3})+$")
_AMBIGUOUS = re.compile(r"^[1-9]\d{0,2}\.\d{3}$")
MAX_DIGITS = 18
_MINUS = str.maketrans({"−": "-", "–": "-"})


def _normalise(token: str) -> tuple[str, str] | None:
    """``(sign, body)`` of a token stripped of units, or None if it is not a number's shape."""
    text = _STRIP.sub("", token.translate(_MINUS))
    sign = ""
    if text and text[0] in "-+":
        sign, text = ("-" if text[0] == "-" else ""), text[1:]
    elif text.endswith("-") and len(text) > 1:  # "1.234,56-" (credit printed with a trailing sign)
        sign, text = "-", text[:-1]
    if text.startswith((",", ".")) and text[1:].isdigit():
        text = "0" + text  # ",000" → "0,000"
    if not text or not _SHAPE.match(text) or text[-1] in ".,":
        return None
    if len(text) - text.count(".") - text.count(",") > MAX_DIGITS:
        return None  # no amount has that many digits (and a float could not hold it)
    return sign, text


def _decimal(sign: str, digits: str) -> Decimal | None:
    try:
        return Decimal(sign + digits)
    except InvalidOperation:
        return None


def number_candidates(token: str) -> tuple[Decimal, ...]:
    """Every reading of a printed number: none (not a number), one, or two for ``d{1,3}.ddd``.

    The two readings of an ambiguous token come decimal first (``148.206`` → 148.206, 148206).
    """
    parts = _normalise(token)
    if parts is None:
        return ()
    sign, text = parts
    if "." in text and "," in text:
        decimal_sep = "," if text.rfind(",") > text.rfind(".") else "."
        group_sep = "." if decimal_sep == "," else ","
        whole, _, frac = text.rpartition(decimal_sep)
        if decimal_sep in whole or not frac.isdigit():
            return ()
        pattern = _GROUPED if group_sep == "." else _GROUPED_COMMA
        if not pattern.match(whole):
            return ()
        value = _decimal(sign, whole.replace(group_sep, "") + "." + frac)
        return (value,) if value is not None else ()
    if "," in text:
        if text.count(",") > 1:  # "1,284,316": commas as groups, no decimals
            if not _GROUPED_COMMA.match(text):
                return ()
            value = _decimal(sign, text.replace(",", ""))
        else:
            value = _decimal(sign, text.replace(",", "."))
        return (value,) if value is not None else ()
    if "." in text:
        if text.count(".") > 1:
            if not _GROUPED.match(text):
                return ()
            value = _decimal(sign, text.replace(".", ""))
            return (value,) if value is not None else ()
        if _AMBIGUOUS.match(text):
            read = (_decimal(sign, text), _decimal(sign, text.replace(".", "")))
            return tuple(v for v in read if v is not None)
        value = _decimal(sign, text)
        return (value,) if value is not None else ()
    value = _decimal(sign, text)
    return (value,) if value is not None else ()


def parse_tr_number(token: str) -> Decimal | None:
    """The value of a printed number; None when it is no number or is ambiguous (``100.000``)."""
    found = number_candidates(token)
    return found[0] if len(found) == 1 else None


def printed_decimals(token: str) -> int:
    """How many decimals a token prints (for the ``0.5·10^-d`` rounding allowance of facts §7)."""
    parts = _normalise(token)
    if parts is None:
        return 0
    text = parts[1]
    if "," in text and text.count(",") == 1:
        return len(text.rpartition(",")[2])
    if "." in text and "," not in text and text.count(".") == 1:
        return len(text.rpartition(".")[2])
    if "." in text and "," in text:
        return len(text[max(text.rfind(","), text.rfind(".")) + 1 :])
    return 0


# A number as printed in cleaned text: not glued to a word, a date part or a percent sign.
_TOKEN = re.compile(r"(?<![\w%.,/-])[-−]?(?:\d[\d.,]*\d|\d|[.,]\d+)(?![/\d]|[.,]\d|-\d)")


@dataclass(frozen=True)
class Number:
    """One number found in a line: its readings, printed decimals and where it sits."""

    token: str
    values: tuple[Decimal, ...]
    decimals: int
    start: int
    end: int
    percent: bool  # printed as a rate (``%20``, ``20 %``): never a quantity or an amount

    @property
    def value(self) -> Decimal:
        return self.values[0]


def find_numbers(line: str) -> list[Number]:
    """The numbers printed in one cleaned line, left to right (dates and ids are not numbers)."""
    found: list[Number] = []
    for match in _TOKEN.finditer(line):
        token = match.group(0)
        values = number_candidates(token)
        if not values:
            continue
        before = line[: match.start()].rstrip()
        after = line[match.end() :].lstrip()
        # "%20" is a rate; in "5 % 12,00" the sign belongs to the 5, not to 12,00
        percent = after.startswith("%") or (
            before.endswith("%") and not before[:-1].rstrip()[-1:].isdigit()
        )
        found.append(
            Number(token, values, printed_decimals(token), match.start(), match.end(), percent)
        )
    return found
