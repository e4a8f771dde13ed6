"""Cleaning extracted text before it is read (EXTRACTION-FACTS §2): spacing and glyph artefacts.

What it is for: undoing what PDF text extraction does to some fonts, line by line, so labels and
numbers read as printed:

* letter-spaced digits (``1 2 3 .4 0 6 ,7 1 8`` → ``123.406,718``): a run of three or more
  fragments that each hold one digit (with at most one separator glued on) is one number; columns
  stay apart where the text has two or more spaces;
* doubled fake-bold glyphs (``AAKKTTİİFF  44..227755`` → ``AKTİF  4.275``): collapsed on a line
  only when it holds a doubled word of at least four letters, so ``1100`` kWh elsewhere stays;
* no-break and thin spaces, tabs and Unicode minus signs become their plain forms.

Not for: letter-spaced words (``A ktif Ene rji``): labels are matched on ``label_key``, which drops
all spacing and folds Turkish letters, so they need no repair here.
"""

from __future__ import annotations

import re

_SPACES = str.maketrans({"\u00a0": " ", "\u202f": " ", "\u2009": " ", "\t": "  ", "−": "-"})
_DIGIT_FRAGMENT = re.compile(r"^[-.,]?\d[.,]?$")
_COLUMN_GAP = re.compile(r"(\s{2,})")
_WORD = re.compile(r"\S+")
_FOLD = str.maketrans("ıİşŞğĞüÜöÖçÇâÂîÎûÛ", "iisSgGuUoOcCaAiIuU")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ufeff]")
_NOT_ALNUM = re.compile(r"[^0-9a-z]+")


def _doubled(token: str) -> bool:
    return (
        len(token) > 1
        and len(token) % 2 == 0
        and all(token[i] == token[i + 1] for i in range(0, len(token), 2))
    )


def _undouble_line(line: str) -> str:
    words = _WORD.findall(line)
    if not any(_doubled(w) and sum(c.isalpha() for c in w) >= 8 for w in words):
        return line
    return _WORD.sub(lambda m: m.group(0)[::2] if _doubled(m.group(0)) else m.group(0), line)


def _join_spaced_digits(chunk: str) -> str:
    parts = chunk.split(" ")
    out: list[str] = []
    run: list[str] = []

    def flush() -> None:
        if len(run) >= 3:
            out.append("".join(run))
        else:
            out.extend(run)
        run.clear()

    for part in parts:
        if _DIGIT_FRAGMENT.match(part):
            run.append(part)
        else:
            flush()
            out.append(part)
    flush()
    return " ".join(out)


def clean_line(line: str) -> str:
    """One line with spacing and doubled-glyph artefacts undone (see the module docstring)."""
    line = _undouble_line(line.translate(_SPACES))
    pieces = _COLUMN_GAP.split(line)
    return "".join(p if p.isspace() else _join_spaced_digits(p) for p in pieces).rstrip()


def clean_text(text: str) -> str:
    """Every line of ``text`` cleaned; line breaks are kept (``\\r\\n`` and ``\\r`` become
    ``\\n``); control characters (NUL included: no store keeps it) become spaces."""
    text = _CONTROL.sub(" ", text.replace("\r\n", "\n").replace("\r", "\n"))
    return "\n".join(clean_line(line) for line in text.split("\n"))


def label_key(text: str) -> str:
    """Letters and digits only, Turkish letters folded to ASCII, lower case (``A ktif Ene rji
    B e d e li`` → ``aktifenerjibedeli``, ``ÖDENECEK TUTAR`` → ``odenecektutar``)."""
    return _NOT_ALNUM.sub("", text.translate(_FOLD).lower())
