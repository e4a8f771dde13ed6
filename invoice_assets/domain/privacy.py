"""Masking personal data in free text (evidence snippets, error messages) before it is stored or
logged: Turkish tax numbers (VKN, 10 digits), identity numbers (TCKN, 11 digits), phone numbers
and e-mail addresses. Amounts and dates are left alone (they are not personal and are needed).
"""

from __future__ import annotations

import re

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)")
# Not inside a longer number or an amount (1.234,56): no digit, nor "digit + separator", around.
_BEFORE = r"(?<!\d)(?<!\d[.,])"
_AFTER = r"(?!\d|[.,]\d)"
_PHONE = re.compile(
    _BEFORE + r"(?:\+90[\s-]?|0)?\(?5\d{2}\)?[\s-]?\d{3}[\s-]?\d{2}[\s-]?(\d{2})" + _AFTER
)
_ID_NUMBER = re.compile(_BEFORE + r"\d{8,9}(\d{2})" + _AFTER)  # VKN (10) or TCKN (11 digits)
# Every phone or id match holds ten digits with at most two of "()", space or "-" between
# neighbours; text without such a run (and without "@") has nothing to mask. One search for it
# is much cheaper than the three substitutions, and most evidence snippets fail it.
_CANDIDATE = re.compile(r"\d(?:[\s()-]{0,2}\d){9}")


def mask_pii(text: str | None) -> str | None:
    """The text with personal numbers and addresses masked (keeps the last two digits and the
    e-mail domain, enough to tell records apart, not enough to identify a person)."""
    if not text:
        return text
    if "@" not in text and _CANDIDATE.search(text) is None:
        return text
    masked = _EMAIL.sub(lambda m: f"***@{m.group(1)}", text)
    masked = _PHONE.sub(lambda m: f"[phone ***{m.group(1)}]", masked)
    return _ID_NUMBER.sub(lambda m: f"[id ***{m.group(1)}]", masked)
