"""Demo documents (``invoice-ops demo``): a few invoices as PDF and UBL-TR XML, read offline.

``write_documents`` puts into one inbox day folder two PDFs with a text layer (one invoice each,
one with a tiered energy line and a payable rounded to whole TL), a two-invoice PDF bundle, a
UBL-TR XML and a zip holding two more, so ``make run`` shows the document path working without any
network. The PDFs are written by hand (no PDF library at run time): Helvetica with a
``/Differences`` encoding that names the Turkish glyphs (ş, ğ, ı, İ, Ş, Ğ), so the text layer
reads back as Turkish. Same seed, same bytes.

Not for: tests of the readers (``tests/documents``, ``tests/extraction`` build richer documents).
"""

from __future__ import annotations

import io
import random
import uuid
import zipfile
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from invoice_assets.demo.output import write_atomic

CENT = Decimal("0.01")
MONTHS = ["Ocak", "Şubat", "Mart", "Nisan", "Mayıs", "Haziran", "Temmuz", "Ağustos", "Eylül",
          "Ekim", "Kasım", "Aralık"]  # fmt: skip
# byte → glyph for the Turkish letters cp1252 lacks (the rest of the text is cp1252 as is)
_TURKISH = {
    "ğ": (0x80, "gbreve"),
    "Ğ": (0x81, "Gbreve"),
    "ı": (0x82, "dotlessi"),
    "İ": (0x83, "Idotaccent"),
    "ş": (0x84, "scedilla"),
    "Ş": (0x85, "Scedilla"),
}


def _kurus(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _tr(value: Decimal, places: int = 2) -> str:
    text = f"{abs(value):,.{places}f}".replace(",", "_").replace(".", ",").replace("_", ".")
    return ("-" if value < 0 else "") + text


@dataclass(frozen=True)
class DemoDocument:
    """One generated invoice: what it prints."""

    supplier: str
    tax_id: str
    invoice_no: str
    ettn: str
    issued: date
    period: str  # YYYY-MM
    energy: tuple[tuple[str, Decimal, Decimal], ...]  # (label, kWh, TL/kWh)
    distribution_price: Decimal
    round_payable: bool

    @property
    def kwh(self) -> Decimal:
        return sum((q for _, q, _ in self.energy), Decimal(0))

    @property
    def energy_amounts(self) -> list[Decimal]:
        return [_kurus(q * p) for _, q, p in self.energy]

    @property
    def distribution(self) -> Decimal:
        return _kurus(self.kwh * self.distribution_price)

    @property
    def btv(self) -> Decimal:
        return _kurus(sum(self.energy_amounts, Decimal(0)) * Decimal("0.01"))

    @property
    def base(self) -> Decimal:
        return sum(self.energy_amounts, Decimal(0)) + self.distribution + self.btv

    @property
    def vat(self) -> Decimal:
        return _kurus(self.base * Decimal("0.20"))

    @property
    def total(self) -> Decimal:
        return self.base + self.vat

    @property
    def payable(self) -> Decimal:
        return self.total.quantize(Decimal(1), ROUND_HALF_UP) if self.round_payable else self.total

    def lines(self) -> list[str]:
        year, month = self.period.split("-")
        out = [
            self.supplier.upper(),
            f"VKN: {self.tax_id}",
            f"Fatura No: {self.invoice_no}",
            f"ETTN: {self.ettn}",
            f"Fatura Tarihi: {self.issued:%d.%m.%Y}",
            f"Fatura Dönemi: {MONTHS[int(month) - 1]} {year}",
        ]
        for (label, qty, price), amount in zip(self.energy, self.energy_amounts, strict=True):
            out.append(f"{label} {_tr(qty, 3)} {_tr(price, 6)} {_tr(amount)}")
        out += [
            f"Dağıtım Bedeli {_tr(self.kwh, 3)} {_tr(self.distribution_price, 6)} "
            f"{_tr(self.distribution)}",
            f"Belediye Tüketim Vergisi (%1) {_tr(self.btv)}",
            f"KDV (Matrah {_tr(self.base)}) %20 {_tr(self.vat)}",
            f"Fatura Tutarı {_tr(self.total)} TL",
        ]
        if self.payable != self.total:
            out.append(f"Güncel Yuvarlama {_tr(self.payable - self.total)}")
        out.append(f"ÖDENECEK TUTAR {_tr(self.payable)} TL")
        return out


def _encode(text: str) -> bytes:
    raw = bytearray()
    for char in text:
        if char in _TURKISH:
            raw.append(_TURKISH[char][0])
        else:
            raw += char.encode("cp1252")
    return bytes(raw).replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def pdf_bytes(pages: list[list[str]]) -> bytes:
    """A PDF with one page per list of lines (Helvetica 10 pt, Turkish glyphs named)."""
    differences = " ".join(f"{code} /{name}" for code, name in _TURKISH.values())
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"",  # the page tree, filled below
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding << /Type /Encoding "
        b"/BaseEncoding /WinAnsiEncoding /Differences [" + differences.encode() + b"] >> >>",
    ]
    kids = []
    for lines in pages:
        stream = (
            b"BT /F1 10 Tf 14 TL 40 800 Td "
            + b" ".join(b"(" + _encode(line) + b") Tj T*" for line in lines)
            + b" ET"
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
        content = len(objects)
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents %d 0 R "
            b"/Resources << /Font << /F1 3 0 R >> >> >>" % content
        )
        kids.append(len(objects))
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % k for k in kids),
        len(kids),
    )
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\n" % (len(objects) + 1))
    out.write(b"startxref\n%d\n%%%%EOF\n" % xref)
    return out.getvalue()


def ubl_bytes(doc: DemoDocument) -> bytes:
    """The invoice as UBL-TR XML (UBL 2.1, TR1.2)."""
    rows = [(label, q, p, a) for (label, q, p), a in zip(doc.energy, doc.energy_amounts,
                                                         strict=True)]  # fmt: skip
    rows.append(("Dağıtım Bedeli", doc.kwh, doc.distribution_price, doc.distribution))
    lines = "".join(
        f'<cac:InvoiceLine><cbc:ID>{n}</cbc:ID><cbc:InvoicedQuantity unitCode="KWH">{q}'
        f'</cbc:InvoicedQuantity><cbc:LineExtensionAmount currencyID="TRY">{a}'
        f"</cbc:LineExtensionAmount><cac:Item><cbc:Name>{label}</cbc:Name></cac:Item>"
        f'<cac:Price><cbc:PriceAmount currencyID="TRY">{p}</cbc:PriceAmount></cac:Price>'
        f"</cac:InvoiceLine>\n"
        for n, (label, q, p, a) in enumerate(rows, start=1)
    )
    year, month = doc.period.split("-")
    first = f"{year}-{month}-01"
    energy = sum(doc.energy_amounts, Decimal(0))
    tax = (
        '<cac:TaxSubtotal><cbc:TaxableAmount currencyID="TRY">{base}</cbc:TaxableAmount>'
        '<cbc:TaxAmount currencyID="TRY">{amount}</cbc:TaxAmount><cbc:Percent>{rate}'
        "</cbc:Percent><cac:TaxCategory><cac:TaxScheme><cbc:Name>{name}</cbc:Name>"
        "<cbc:TaxTypeCode>{code}</cbc:TaxTypeCode></cac:TaxScheme></cac:TaxCategory>"
        "</cac:TaxSubtotal>"
    )
    taxes = tax.format(base=energy, amount=doc.btv, rate=1, name="ELK.HAVAGAZ.TÜK.VER.",
                       code="4071") + tax.format(base=doc.base, amount=doc.vat, rate=20,
                                                 name="KDV", code="0015")  # fmt: skip
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
 xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
 xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">
<cbc:UBLVersionID>2.1</cbc:UBLVersionID><cbc:CustomizationID>TR1.2</cbc:CustomizationID>
<cbc:ID>{doc.invoice_no}</cbc:ID><cbc:UUID>{doc.ettn}</cbc:UUID>
<cbc:IssueDate>{doc.issued.isoformat()}</cbc:IssueDate>
<cbc:DocumentCurrencyCode>TRY</cbc:DocumentCurrencyCode>
<cac:InvoicePeriod><cbc:StartDate>{first}</cbc:StartDate></cac:InvoicePeriod>
<cac:AccountingSupplierParty><cac:Party><cac:PartyIdentification>
<cbc:ID schemeID="VKN">{doc.tax_id}</cbc:ID></cac:PartyIdentification>
<cac:PartyName><cbc:Name>{doc.supplier}</cbc:Name></cac:PartyName></cac:Party>
</cac:AccountingSupplierParty>
<cac:TaxTotal><cbc:TaxAmount currencyID="TRY">{doc.btv + doc.vat}</cbc:TaxAmount>{taxes}
</cac:TaxTotal>
<cac:LegalMonetaryTotal>
<cbc:LineExtensionAmount currencyID="TRY">{doc.base - doc.btv}</cbc:LineExtensionAmount>
<cbc:TaxExclusiveAmount currencyID="TRY">{doc.base - doc.btv}</cbc:TaxExclusiveAmount>
<cbc:TaxInclusiveAmount currencyID="TRY">{doc.total}</cbc:TaxInclusiveAmount>
<cbc:PayableRoundingAmount currencyID="TRY">{doc.payable - doc.total}</cbc:PayableRoundingAmount>
<cbc:PayableAmount currencyID="TRY">{doc.payable}</cbc:PayableAmount>
</cac:LegalMonetaryTotal>
{lines}</Invoice>
""".encode()


SUPPLIERS = (
    ("CK Boğaziçi Elektrik Perakende Satış A.Ş.", "CKB"),
    ("Enerjisa Başkent Elektrik Perakende Satış A.Ş.", "EBK"),
)


def demo_documents(day: str, seed: int = 7) -> list[DemoDocument]:
    """Seven invoices billed for the month before ``day`` (same seed, same invoices)."""
    rng = random.Random(f"invoice-assets-demo-documents:{seed}:{day}")
    issued = date.fromisoformat(day)
    year, month = (issued.year, issued.month - 1) if issued.month > 1 else (issued.year - 1, 12)
    out = []
    for n in range(7):
        supplier, prefix = SUPPLIERS[n % 2]
        kwh = Decimal(rng.randint(2_000_000, 90_000_000)) / 1000
        price = Decimal(rng.randint(2_600_000, 3_400_000)) / 1_000_000
        energy: tuple[tuple[str, Decimal, Decimal], ...] = (("Aktif Enerji Bedeli", kwh, price),)
        if n == 1:  # a tiered invoice: 840 kWh at the low tier, the rest higher
            high = price + Decimal("0.412300")
            energy = (("Aktif Enerji Bedeli", Decimal(840), price),
                      ("Yüksek Kademe", kwh, high))  # fmt: skip
        number = f"{prefix}{issued.year}{rng.randint(1, 999_999_999):09d}"
        out.append(
            DemoDocument(
                supplier=supplier,
                tax_id=f"{rng.randint(1_000_000_000, 9_999_999_999)}",
                invoice_no=number,
                ettn=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{seed}:{day}:{number}")),
                issued=issued,
                period=f"{year:04d}-{month:02d}",
                energy=energy,
                distribution_price=Decimal(rng.randint(700_000, 1_300_000)) / 1_000_000,
                round_payable=n % 2 == 1,
            )
        )
    return out


def write_documents(folder: Path, day: str, seed: int = 7) -> list[str]:
    """Write the demo documents of ``day`` into ``folder``; the names written."""
    docs = demo_documents(day, seed)
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "doc-1-fatura.pdf": pdf_bytes([docs[0].lines()]),
        "doc-2-kademeli.pdf": pdf_bytes([docs[1].lines()]),
        "doc-3-paket.pdf": pdf_bytes([docs[2].lines(), docs[3].lines()]),
        "doc-4-efatura.xml": ubl_bytes(docs[4]),
    }
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        for doc in docs[5:]:
            info = zipfile.ZipInfo(f"{doc.invoice_no}.xml", date_time=(2025, 1, 1, 0, 0, 0))
            zipped.writestr(info, ubl_bytes(doc))
    files["doc-5-efatura.zip"] = archive.getvalue()
    for name, content in files.items():
        write_atomic(folder / name, content)
    return sorted(files)
