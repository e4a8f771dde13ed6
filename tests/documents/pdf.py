"""Generated invoice PDFs with a text layer (reportlab), imitating the forms of EXTRACTION-FACTS.

``make_invoice_pdf(spec)`` draws one invoice (``spec.pages`` pages), ``make_bundle_pdf(specs)``
several in one file. The layout puts two columns on one text line (supplier block beside the
invoice number), meter indexes, T1/T2/T3 bands, ``TÜKETİM TOPLAMI``, reactive kVArh and yearly
statistics before the billing table (none of them is the billed quantity), and the billing lines
in the spec's layout: ``qty price amount``, ``qty KWH price amount`` or the quantity on the line
below. ``letter_spaced`` draws glyph by glyph with a gap, as one supplier's font comes out.
``qr_png`` places a PNG (a QR code) at the top right of page 1; ``image_only`` renders every page
to a raster (pypdfium2) and returns a PDF holding only those images, like a screenshot saved as
PDF (no text layer at all).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from decimal import Decimal
from functools import cache
from pathlib import Path

from reportlab.lib.pagesizes import A4
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas

from tests.documents.spec import MONTHS_TR, InvoiceSpec, Line, fmt, kurus

FONT_FILES = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/dejavu/DejaVuSans.ttf"),
)
_ASCII = str.maketrans("ıİşŞğĞüÜöÖçÇ", "iISSgGuUoOcC")
WIDTH, HEIGHT = A4
SIZE = 9
COLUMNS = {"label": 40, "qty": 235, "unit": 300, "price": 340, "amount": 545}


@cache
def font() -> str:
    """A font with Turkish glyphs (DejaVu Sans), else Helvetica with the letters folded."""
    for path in FONT_FILES:
        if path.exists():
            pdfmetrics.registerFont(TTFont("InvoiceSans", str(path)))
            return "InvoiceSans"
    return "Helvetica"


class _Page:
    """Line-by-line drawing on a canvas, top to bottom."""

    def __init__(self, pdf: canvas.Canvas, spec: InvoiceSpec) -> None:
        self.pdf = pdf
        self.spec = spec
        self.y = HEIGHT - 50
        self.font = font()

    def _text(self, text: str) -> str:
        return text if self.font != "Helvetica" else text.translate(_ASCII)

    def put(self, x: float, text: str, *, right: bool = False, spaced: bool = False) -> None:
        text = self._text(text)
        self.pdf.setFont(self.font, SIZE)
        if spaced:
            gap = 1.6
            width = sum(pdfmetrics.stringWidth(c, self.font, SIZE) + gap for c in text)
            x = x - width if right else x
            for char in text:
                self.pdf.drawString(x, self.y, char)
                x += pdfmetrics.stringWidth(char, self.font, SIZE) + gap
        elif right:
            self.pdf.drawRightString(x, self.y, text)
        else:
            self.pdf.drawString(x, self.y, text)

    def row(
        self, *cells: tuple[float, str] | tuple[float, str, bool], spaced: bool = False
    ) -> None:
        for cell in cells:
            x, text = cell[0], cell[1]
            right = len(cell) > 2 and bool(cell[2])
            self.put(x, text, right=right, spaced=spaced)
        self.y -= SIZE + 5

    def gap(self, lines: float = 1) -> None:
        self.y -= (SIZE + 5) * lines


def _date(spec: InvoiceSpec) -> str:
    d = spec.invoice_date
    if spec.date_form == "dashes":
        return f"{d.day:02d}-{d.month:02d}-{d.year}"
    if spec.date_form == "spaced":
        return f"{d.day:02d}- {d.month:02d} - {d.year}"
    return f"{d.day:02d}.{d.month:02d}.{d.year}"


def _period(spec: InvoiceSpec) -> str:
    year, month = (int(part) for part in spec.period.split("-"))
    if spec.period_form == "name":
        return f"{MONTHS_TR[month - 1]} {year}"
    if spec.period_form == "range":
        last = 28 if month == 2 else 30 if month in (4, 6, 9, 11) else 31
        return f"01.{month:02d}.{year} - {last}.{month:02d}.{year}"
    return f"{year}/{month:02d}"


def _header(page: _Page, spec: InvoiceSpec, number: int) -> None:
    right = 330
    page.row((40, spec.supplier), (right, "e-Fatura"))
    tax = f"VKN: {spec.supplier_tax_id}" if spec.supplier_tax_id else ""
    page.row((40, f"Büyük Mükellefler V.D. {tax}"), (right, f"Fatura No: {spec.invoice_no}"))
    page.row((40, "Mersis No: 0123456789012345"), (right, f"Fatura Tarihi: {_date(spec)}"))
    page.row((40, "SAYIN"), (right, f"ETTN: {spec.ettn}"))
    page.row((40, spec.customer), (right, f"Fatura Dönemi: {_period(spec)}"))
    page.row((40, f"VKN: {spec.customer_tax_id}"), (right, f"Sayfa {number}/{spec.pages}"))
    if spec.tariff:
        group, voltage, term = spec.tariff
        page.row((40, f"Tarife: {group} {voltage} {term}"), (right, "Sözleşme Gücü: 250 kW"))
    page.gap()


def _meter(page: _Page, spec: InvoiceSpec) -> None:
    qty = spec.consumption
    first = Decimal("10234.567")
    bands = (qty * Decimal("0.55"), qty * Decimal("0.2"))
    t3 = qty - bands[0] - bands[1]
    page.row((40, "SAYAÇ BİLGİLERİ"), (330, "Sayaç No: 45678123  Çarpan: 1"))
    page.row(
        (40, "İlk Endeks"),
        (COLUMNS["qty"], fmt(first, 3)),
        (330, "Son Endeks"),
        (COLUMNS["amount"], fmt(first + qty, 3), True),
    )
    for name, value in (("T1 Gündüz", bands[0]), ("T2 Puant", bands[1]), ("T3 Gece", t3)):
        page.row((40, name), (COLUMNS["qty"], fmt(value, 3)), (COLUMNS["unit"], "kWh"))
    page.row((40, "TÜKETİM TOPLAMI"), (COLUMNS["qty"], fmt(qty, 3)), (COLUMNS["unit"], "kWh"))
    page.row((40, "Reaktif Tüketim (kVArh)"), (COLUMNS["qty"], fmt(qty * Decimal("0.13"), 3)))
    page.row(
        (40, "Günlük Ortalama Tüketim"),
        (COLUMNS["qty"], fmt(qty / 30, 3)),
        (COLUMNS["unit"], "kWh"),
    )
    page.row(
        (40, "Geçen Yıl Aynı Dönem Tüketimi"),
        (COLUMNS["qty"], fmt(qty * Decimal("0.9"), 3)),
        (COLUMNS["unit"], "kWh"),
    )
    page.gap()


def _billing_line(page: _Page, spec: InvoiceSpec, line: Line, kind: str) -> None:
    qty = fmt(line.qty, line.qty_places, spec.style(f"{kind}_qty"))
    price = fmt(line.unit_price, line.price_places, spec.style(f"{kind}_price"))
    amount = fmt(line.amount, 2, spec.style(f"{kind}_amount"))
    spaced = spec.letter_spaced
    right_qty = COLUMNS["qty"] + 55
    if spec.layout == "next_line":
        page.row(
            (40, line.label),
            (COLUMNS["price"], price),
            (COLUMNS["amount"], amount, True),
            spaced=spaced,
        )
        page.row((right_qty, qty, True), (COLUMNS["unit"], "kWh"), spaced=spaced)
        return
    cells: list[tuple[float, str] | tuple[float, str, bool]] = [
        (40, line.label),
        (right_qty, qty, True),
        (COLUMNS["price"], price),
        (COLUMNS["amount"], amount, True),
    ]
    if spec.layout == "unit":
        cells.insert(2, (COLUMNS["unit"], "KWH"))
    if spec.vat_columns:
        vat = fmt(kurus(line.amount * spec.vat_rate), 2)
        cells = [
            (40, line.label),
            (right_qty - 20, qty, True),
            (COLUMNS["unit"] - 20, "kWh"),
            (COLUMNS["price"] - 20, f"{price} TL"),
            (420, f"%{int(spec.vat_rate * 100)}"),
            (480, f"{vat} TL", True),
            (COLUMNS["amount"], f"{amount} TL", True),
        ]
    page.row(*cells, spaced=spaced)


def _billing(page: _Page, spec: InvoiceSpec) -> None:
    page.row(
        (40, "Açıklama"),
        (COLUMNS["qty"], "Miktar"),
        (COLUMNS["price"], "Birim Fiyat"),
        (COLUMNS["amount"], "Tutar (TL)", True),
    )
    for line in spec.energy:
        _billing_line(page, spec, line, "energy")
    if spec.distribution is not None:
        _billing_line(page, spec, spec.distribution, "distribution")
    page.row((40, spec.btv_label), (COLUMNS["amount"], fmt(spec.btv, 2, spec.style("btv")), True))
    page.gap()
    base = fmt(spec.base, 2, spec.style("base"))
    vat = fmt(spec.vat, 2, spec.style("vat"))
    rate = f"%{int(spec.vat_rate * 100)}"
    if spec.vat_form == "matrah_inline":
        page.row((40, f"KDV (Matrah {base}) {rate}"), (COLUMNS["amount"], vat, True))
    else:
        page.row((40, "KDV MATRAHI"), (COLUMNS["amount"], base, True))
        page.row((40, f"Hesaplanan KDV ({rate})"), (COLUMNS["amount"], vat, True))
    total = fmt(spec.total, 2, spec.style("total"))
    payable = fmt(spec.payable, 2, spec.style("payable"))
    if spec.summary_box:
        if spec.rounding:
            page.row((40, "Güncel Yuvarlama"), (COLUMNS["amount"], fmt(spec.rounding, 2), True))
        page.row((40, spec.total_label), (220, spec.payable_label), (400, "Son Ödeme Tarihi"))
        page.row((40, f"{total} TL"), (220, f"{payable} TL"), (400, "25.12.2025"))
        return
    _bold_row(page, spec, spec.total_label, total)
    if spec.rounding:
        page.row((40, "Önceki Dönem Yuvarlama"), (COLUMNS["amount"], fmt(Decimal(0), 2), True))
        page.row((40, "Güncel Yuvarlama"), (COLUMNS["amount"], fmt(spec.rounding, 2), True))
    _bold_row(page, spec, spec.payable_label, payable)
    page.row((40, "Yalnız: Otuz Yedi Bin Dört Yüz Elli Türk Lirası Dokuz Kuruş"))
    page.row((40, "Son Ödeme Tarihi: 25.12.2025"), (330, "Gecikme zammı uygulanır"))


def _bold_row(page: _Page, spec: InvoiceSpec, label: str, value: str) -> None:
    page.row((40, label), (COLUMNS["amount"], value, True))
    if spec.doubled_totals:  # overprinted a hair to the right: fake bold
        page.y += SIZE + 5
        page.row((40.3, label), (COLUMNS["amount"] + 0.3, value, True))


def _draw(pdf: canvas.Canvas, spec: InvoiceSpec, qr_png: bytes | None) -> None:
    page = _Page(pdf, spec)
    _header(page, spec, 1)
    if qr_png is not None:
        pdf.drawImage(ImageReader(io.BytesIO(qr_png)), WIDTH - 130, HEIGHT - 150, 90, 90)
    if spec.meter_rows:
        _meter(page, spec)
    if spec.pages >= 2:
        page.row((40, "Fatura özeti ve ödeme bilgileri 2. sayfadadır."))
        pdf.showPage()
        page = _Page(pdf, spec)
        page.row((40, spec.supplier), (330, f"Fatura No: {spec.invoice_no}"))
        page.row((40, "FATURA DETAYI"), (330, f"Sayfa 2/{spec.pages}"))
        page.gap()
    _billing(page, spec)
    for extra in range(3, spec.pages + 1):
        pdf.showPage()
        page = _Page(pdf, spec)
        page.row((40, "Bilgilendirme"), (330, f"Sayfa {extra}/{spec.pages}"))
    pdf.showPage()


def make_bundle_pdf(
    specs: Sequence[InvoiceSpec], *, qr_png: bytes | None = None, image_only: bool = False
) -> bytes:
    """Several invoices, one after another, in one PDF."""
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4, invariant=True)
    for spec in specs:
        _draw(pdf, spec, qr_png)
    pdf.save()
    content = buffer.getvalue()
    return rasterised(content) if image_only else content


def make_invoice_pdf(
    spec: InvoiceSpec, *, qr_png: bytes | None = None, image_only: bool = False
) -> bytes:
    """One invoice as a PDF with a text layer (or, ``image_only``, rasters and no text)."""
    return make_bundle_pdf([spec], qr_png=qr_png, image_only=image_only)


def rasterised(content: bytes, *, scale: float = 1.5) -> bytes:
    """Every page of ``content`` rendered (pypdfium2) and placed as one image per page: a
    screenshot saved as PDF (~900×1260 px at the default scale, no text layer)."""
    import pypdfium2 as pdfium

    source = pdfium.PdfDocument(content)
    buffer = io.BytesIO()
    out = canvas.Canvas(buffer, pagesize=A4, invariant=True)
    try:
        for index in range(len(source)):
            page = source[index]
            image = page.render(scale=scale).to_pil().convert("RGB")
            page.close()
            png = io.BytesIO()
            image.save(png, format="PNG")
            out.drawImage(ImageReader(io.BytesIO(png.getvalue())), 0, 0, WIDTH, HEIGHT)
            out.showPage()
    finally:
        source.close()
    out.save()
    return buffer.getvalue()


def page_png(content: bytes, index: int = 0, *, scale: float = 1.5) -> bytes:
    """Page ``index`` of a PDF rendered to PNG bytes (an invoice photographed as an image)."""
    import pypdfium2 as pdfium

    source = pdfium.PdfDocument(content)
    try:
        page = source[index]
        image = page.render(scale=scale).to_pil().convert("RGB")
        page.close()
    finally:
        source.close()
    png = io.BytesIO()
    image.save(png, format="PNG")
    return png.getvalue()
