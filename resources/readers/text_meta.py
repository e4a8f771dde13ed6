"""What an invoice's text says about itself: number, ETTN, dates, period, supplier, tariff labels.

What it is for: the identifying fields of SPEC §4.1 ``invoice`` from cleaned lines
(EXTRACTION-FACTS §3): the 16-character invoice number (3 letters + year + 9 digits), the ETTN
UUID (also when a narrow column breaks it over two lines), the invoice date in its printed forms
(``31.12.2025``, ``31-10-2025``, ``31- 12 - 2025``), the period (``2025/11``, ``Kasım 2025``, a
date range), the supplier's legal name and VKN where printed near it, and the tariff group,
voltage level and term normalised to the codes of ``config/distribution_tariffs.csv``.

Not for: amounts (``text_invoice.py``) or canonical supplier ids (``domain/suppliers.py``).
"""

from __future__ import annotations

import re
from datetime import date, timedelta

from resources.readers.text_clean import label_key

INVOICE_NO = re.compile(r"(?<![A-Z0-9])([A-Z][A-Z0-9]{2}(?:19|20)\d{2}\d{9})(?!\d)")
UUID = re.compile(
    r"(?i)(?<![0-9a-f])([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
)
DATE = re.compile(r"(?<!\d)(\d{1,2})\s*([./-])\s*(\d{1,2})\s*\2\s*((?:19|20)\d{2})(?!\d)")
ISO_DATE = re.compile(r"(?<!\d)((?:19|20)\d{2})-(\d{2})-(\d{2})(?!\d)")
YEAR_MONTH = re.compile(r"(?<![\d./-])((?:19|20)\d{2})\s*[/.-]\s*(\d{1,2})(?![\d./-]*\d)")
MONTH_YEAR = re.compile(r"(?<![\d./-])(\d{1,2})\s*[/.-]\s*((?:19|20)\d{2})(?![\d./-]*\d)")
MONTHS = {
    "ocak": 1,
    "subat": 2,
    "mart": 3,
    "nisan": 4,
    "mayis": 5,
    "haziran": 6,
    "temmuz": 7,
    "agustos": 8,
    "eylul": 9,
    "ekim": 10,
    "kasim": 11,
    "aralik": 12,
}
_MONTH_NAME = re.compile(
    r"(?i)(ocak|şubat|subat|mart|nisan|mayıs|mayis|haziran|temmuz|ağustos|agustos|eylül|eylul"
    r"|ekim|kasım|kasim|aralık|aralik)\s*[-/ ]?\s*((?:19|20)\d{2})"
)
_YEAR_MONTH_NAME = re.compile(
    r"(?i)((?:19|20)\d{2})\s*[-/ ]?\s*(ocak|şubat|subat|mart|nisan|mayıs|mayis|haziran|temmuz"
    r"|ağustos|agustos|eylül|eylul|ekim|kasım|kasim|aralık|aralik)"
)
LEGAL_FORM = re.compile(
    r"(?i)((?<!\w)A\s?\.\s?[ŞS]\s?\.?(?=\W|$)|(?<!\w)AŞ(?!\w)|ANON[İI]M\s+[ŞS][İI]RKET[İI]"
    r"|LTD\.?\s*[ŞS]T[İI]\.?"
    r"|L[İI]M[İI]TED\s+[ŞS][İI]RKET[İI])"
)
TAX_ID = re.compile(r"(?<!\d)(\d{10,11})(?!\d)")
_OTHER_INVOICE = ("onceki", "iade", "referans", "ilgili", "iptal")
MAX_NAME_LINE = 81  # longer: a sentence, not the first half of a legal name
_CUSTOMER_KEYS = ("sayin", "alici", "musteri", "abone", "tesisat")


def _fold(text: str) -> str:
    return label_key(text)


def find_invoice_no(lines: list[str]) -> tuple[str | None, int | None]:
    """``(number, line index)``; a number on a "Fatura No" line wins over one printed elsewhere."""
    first: tuple[str | None, int | None] = (None, None)
    for index, line in enumerate(lines):
        upper = line.upper().replace("İ", "I")
        key = _fold(line)
        if any(w in key for w in _OTHER_INVOICE):
            continue  # "Önceki Fatura No", "İade Fatura No": another invoice's number
        labelled = "faturano" in key or "belgeno" in key or "faturanumara" in key
        match = INVOICE_NO.search(upper) or (
            INVOICE_NO.search(upper.replace(" ", "")) if labelled else None
        )
        if match is None:
            continue
        if labelled:
            return match.group(1), index
        if first[0] is None:
            first = (match.group(1), index)
    return first


def find_ettn(lines: list[str], *, labelled_only: bool = False) -> tuple[str | None, int | None]:
    """``(uuid, line index)``, lower case; an ETTN line broken over two lines is joined. A UUID
    on an ETTN line wins; else the first UUID anywhere (none with ``labelled_only``)."""
    first: tuple[str | None, int | None] = (None, None)
    for index, line in enumerate(lines):
        key = _fold(line)
        labelled = "ettn" in key or "uuid" in key
        match = UUID.search(line)
        if match is None and labelled:
            joined = (line + "".join(lines[index + 1 : index + 2])).replace(" ", "")
            match = UUID.search(joined)
        if match is None:
            continue
        if labelled:
            return match.group(1).lower(), index
        if first[0] is None and not labelled_only:
            first = (match.group(1).lower(), index)
    return first


def parse_date(text: str) -> date | None:
    for match in DATE.finditer(text):
        try:
            return date(int(match.group(4)), int(match.group(3)), int(match.group(1)))
        except ValueError:
            continue
    for match in ISO_DATE.finditer(text):
        try:
            return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
        except ValueError:
            continue
    return None


def find_invoice_date(lines: list[str]) -> str | None:
    for labels in (("faturatarihi", "duzenlemetarihi", "belgetarihi"), ("tarih",)):
        for index, line in enumerate(lines):
            key = _fold(line)
            if not any(label in key for label in labels):
                continue
            if labels == ("tarih",) and any(
                w in key for w in ("sonodeme", "okuma", "ilkokuma", "endeks", "vade")
            ):
                continue
            at = max(line.lower().find("tarih"), 0)
            found = parse_date(line[at:]) or parse_date(" ".join(lines[index + 1 : index + 2]))
            if found is not None:
                return found.isoformat()
    return None


def _period_in(text: str) -> str | None:
    dates = [
        date(int(m.group(4)), int(m.group(3)), int(m.group(1)))
        for m in DATE.finditer(text)
        if 1 <= int(m.group(3)) <= 12 and 1 <= int(m.group(1)) <= 31 and _valid(m)
    ]
    if len(dates) > 1 and dates[1] > dates[0]:
        middle = dates[0] + timedelta(days=(dates[1] - dates[0]).days // 2)
        return f"{middle.year:04d}-{middle.month:02d}"
    for match in YEAR_MONTH.finditer(text):
        if 1 <= int(match.group(2)) <= 12:
            return f"{match.group(1)}-{int(match.group(2)):02d}"
    for match in MONTH_YEAR.finditer(text):
        if 1 <= int(match.group(1)) <= 12:
            return f"{match.group(2)}-{int(match.group(1)):02d}"
    named = _MONTH_NAME.search(text)
    if named:
        return f"{named.group(2)}-{MONTHS[_fold(named.group(1))]:02d}"
    named = _YEAR_MONTH_NAME.search(text)
    if named:
        return f"{named.group(1)}-{MONTHS[_fold(named.group(2))]:02d}"
    if len(dates) == 1:
        return f"{dates[0].year:04d}-{dates[0].month:02d}"
    return None


def _valid(match: re.Match[str]) -> bool:
    try:
        date(int(match.group(4)), int(match.group(3)), int(match.group(1)))
    except ValueError:
        return False
    return True


def find_period(lines: list[str]) -> str | None:
    """``YYYY-MM`` from a "Fatura Dönemi" line, else a "Dönem" line, else a bare ``2025/11``."""
    for labels in (("faturadonem",), ("donem", "period")):
        for index, line in enumerate(lines):
            key = _fold(line)
            if not any(label in key for label in labels):
                continue
            if labels != ("faturadonem",) and ("okuma" in key or "onceki" in key):
                continue
            at = max(line.lower().find("dönem"), line.lower().find("donem"), 0)
            found = _period_in(line[at:]) or _period_in(" ".join(lines[index + 1 : index + 2]))
            if found is not None:
                return found
    for line in lines:
        if not DATE.search(line):
            for match in YEAR_MONTH.finditer(line):
                if 1 <= int(match.group(2)) <= 12:
                    return f"{match.group(1)}-{int(match.group(2)):02d}"
    # no period printed: the middle of the meter reading dates (ilk/son okuma)
    readings = " ".join(line for line in lines if "okuma" in _fold(line) and DATE.search(line))
    return _period_in(readings) if len(DATE.findall(readings)) > 1 else None


def find_supplier(lines: list[str]) -> tuple[str | None, str | None]:
    """``(legal name, VKN)`` from the top of the first page: the first line with a legal form
    (A.Ş., Ltd. Şti.), one naming electricity or energy preferred; the VKN from a tax-id line
    close to it, before the customer block."""
    best: tuple[int, int, str] | None = None
    limit = len(lines)
    for index, line in enumerate(lines):
        key = _fold(line)
        if any(key.startswith(word) for word in _CUSTOMER_KEYS):
            limit = index
            break
    for index, line in enumerate(lines[:limit] or lines):
        match = LEGAL_FORM.search(line)
        if match is None:
            continue
        key = _fold(line)
        score = 2 + any(w in key for w in ("elektrik", "enerji", "perakende", "edas", "satis"))
        if best is None or score > best[0]:
            best = (score, index, line[: match.end()].strip(" :-,"))
        if score == 3:
            break
    if best is None:
        for index, line in enumerate(lines[:limit][:20]):
            key = _fold(line)
            if "elektrik" in key and any(w in key for w in ("perakende", "satis", "enerji")):
                best = (1, index, line.strip())
                break
    if best is None:
        return None, None
    name = re.sub(r"\s+", " ", best[2])
    before = lines[best[1] - 1].strip() if best[1] > 0 else ""
    stem = LEGAL_FORM.split(name)[0].split()
    if (
        len(stem) < 3
        and before
        and not any(c.isdigit() for c in before)
        and ":" not in before
        and len(before) < MAX_NAME_LINE
        and not any(w in _fold(before) for w in ("fatura", "sayfa", "earsiv", "efatura"))
        and not LEGAL_FORM.search(before)
    ):
        name = f"{before} {name}"  # a long legal name broken over two lines
    name = re.sub(r"(?i)^(satıcı|satici|tedarikçi|tedarikci|firma)\s*[:\-]?\s*", "", name)
    tax_id = None
    stop = limit if limit > best[1] else len(lines)
    for line in lines[max(0, best[1] - 2) : min(stop, best[1] + 10)]:
        key = _fold(line)
        if any(w in key for w in ("vergi", "vkn", "tckn", "vd")):
            match = TAX_ID.search(line.replace(" ", "") if "vkn" in key else line)
            if match:
                tax_id = match.group(1)
                break
    return name[:512] or None, tax_id


_GROUPS = (
    ("mesken", "mesken"),
    ("ticarethane", "ticarethane"),
    ("ticari", "ticarethane"),
    ("sanayi", "sanayi"),
    ("tarimsal", "tarimsal"),
    ("tarim", "tarimsal"),
    ("aydinlatma", "aydinlatma"),
)


def find_tariff(lines: list[str]) -> tuple[str | None, str | None, str | None]:
    """``(tariff_group, voltage_level, tariff_term)`` where printed, as ``mesken``/``AG``/
    ``tek_terim`` (the codes of the distribution tariff table)."""
    group = voltage = term = None
    for line in lines:
        key = _fold(line)
        if not any(w in key for w in ("tarife", "abonegrubu", "abonetipi", "gerilim", "terim")):
            continue
        if group is None:
            group = next((code for word, code in _GROUPS if word in key), None)
        if voltage is None:
            if "alcakgerilim" in key or re.search(r"(?<![A-ZİÇŞĞÜÖ])AG(?![A-ZİÇŞĞÜÖ])", line):
                voltage = "AG"
            elif "ortagerilim" in key or re.search(r"(?<![A-ZİÇŞĞÜÖ])OG(?![A-ZİÇŞĞÜÖ])", line):
                voltage = "OG"
            elif "yuksekgerilim" in key:
                voltage = "YG"
        if term is None:
            if "tekterim" in key:
                term = "tek_terim"
            elif "cifterim" in key or "ciftterim" in key:
                term = "cift_terim"
    return group, voltage, term
