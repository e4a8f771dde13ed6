"""Generated PDF and image invoices (text layer, image-only, QR code, bundles) and hostile files.

Values come from ``UblSpec`` (``ubl_docs.py``), so the XML, the PDF and the image of one invoice
print the same figures, in the Turkish number format (``1.234,56``).
"""

from __future__ import annotations

import io
import json
import struct
import zlib
from decimal import Decimal
from pathlib import Path

from tests.extraction.ubl_docs import UblSpec

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
MONTHS = ["Ocak", "Şubat", "Mart", "Nisan", "Mayıs", "Haziran", "Temmuz", "Ağustos", "Eylül",
          "Ekim", "Kasım", "Aralık"]  # fmt: skip


def tr(value: Decimal, places: int = 2) -> str:
    """``1234567.891`` → ``1.234.567,89`` (Turkish grouping and decimal comma)."""
    text = f"{abs(value):,.{places}f}".replace(",", "_").replace(".", ",").replace("_", ".")
    return ("-" if value < 0 else "") + text


def invoice_lines(spec: UblSpec) -> list[str]:
    """The printed lines of one invoice (label, qty, unit price, amount on one line)."""
    year, month = spec.period[0][:4], int(spec.period[0][5:7])
    day = spec.issue_date.split("-")
    lines = [
        spec.supplier.upper(),
        f"VKN: {spec.vkn}",
        f"Fatura No: {spec.invoice_no}",
        f"ETTN: {spec.ettn}",
        f"Fatura Tarihi: {day[2]}.{day[1]}.{day[0]}",
        f"Fatura Dönemi: {MONTHS[month - 1]} {year}",
    ]
    for (label, qty, price), amount in zip(spec.energy, spec.energy_amounts(), strict=True):
        lines.append(f"{label} {tr(Decimal(qty), 3)} {tr(Decimal(price), 6)} {tr(amount)}")
    lines.append(
        f"Dağıtım Bedeli {tr(spec.kwh(), 3)} {tr(Decimal(spec.distribution_price), 6)} "
        f"{tr(spec.distribution_amount())}"
    )
    lines += [
        f"Elektrik ve Havagazı Tüketim Vergisi {tr(spec.btv())}",
        f"KDV (Matrah {tr(spec.vat_base())}) %20 {tr(spec.vat())}",
        f"FATURA TUTARI {tr(spec.total())} TL",
    ]
    if Decimal(spec.rounding):
        lines.append(f"Güncel Yuvarlama {tr(Decimal(spec.rounding))}")
    lines.append(f"ÖDENECEK TUTAR {tr(spec.payable())} TL")
    return lines


def qr_payload(spec: UblSpec, **override: str) -> str:
    data = {
        "vkntckn": spec.vkn,
        "avkntckn": "11111111110",
        "senaryo": "EARSIVFATURA",
        "tip": "SATIS",
        "tarih": spec.issue_date,
        "no": spec.invoice_no,
        "ETTN": spec.ettn,
        "paraBirimi": "TRY",
        "malhizmettoplam": f"{spec.base():.2f}",
        "kdvmatrah(20)": f"{spec.vat_base():.2f}",
        "hesaplanankdv(20)": f"{spec.vat():.2f}",
        "vergidahil": f"{spec.total():.2f}",
        "odenecek": f"{spec.payable():.2f}",
    }
    data.update(override)
    return json.dumps(data)


def qr_png(payload: str, scale: int = 3) -> bytes:
    """A QR code image made with OpenCV's encoder (PNG bytes)."""
    import cv2

    code = cv2.QRCodeEncoder.create().encode(payload)
    code = cv2.resize(code, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    code = cv2.copyMakeBorder(code, 4 * scale, 4 * scale, 4 * scale, 4 * scale,
                              cv2.BORDER_CONSTANT, value=255)  # fmt: skip
    ok, png = cv2.imencode(".png", code)
    assert ok
    return png.tobytes()


def page_image(lines: list[str], qr: bytes | None = None) -> bytes:
    """A screenshot-like PNG of the lines (900 × 1200, as the e-Fatura viewer's)."""
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", (900, 1200), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(str(FONT), 22)
    for n, text in enumerate(lines):
        draw.text((40, 300 + n * 42), text, fill="black", font=font)
    if qr is not None:
        with Image.open(io.BytesIO(qr)) as code:
            image.paste(code.convert("RGB"), (620, 30))  # top right, as printed
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def make_pdf(
    specs: list[UblSpec], *, qr: bool = True, image_only: bool = False, password: str | None = None
) -> bytes:
    """One page per invoice: a text layer (DejaVu, Turkish letters) or one raster per page."""
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(TTFont("DejaVu", str(FONT)))
    out = io.BytesIO()
    page = canvas.Canvas(out, pagesize=(595, 842), encrypt=password, invariant=1)
    for spec in specs:
        lines = invoice_lines(spec)
        code = qr_png(qr_payload(spec)) if qr else None
        if image_only:
            page.drawImage(ImageReader(io.BytesIO(page_image(lines, code))), 0, 0, 595, 842)
        else:
            page.setFont("DejaVu", 10)
            for n, text in enumerate(lines):
                page.drawString(40, 800 - n * 16, text)
            if code is not None:
                page.drawImage(ImageReader(io.BytesIO(code)), 460, 720, 90, 90)
        page.showPage()
    page.save()
    return out.getvalue()


def corrupt_pdf() -> bytes:
    return b"%PDF-1.7\n1 0 obj << /Type /Catalog garbage \x00\xff\x13 " * 20 + b"\n%%EOF\n"


def zero_page_pdf() -> bytes:
    body = [
        b"%PDF-1.4\n",
        b"1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n",
        b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n",
    ]
    offsets, position = [], 0
    for part in body:
        offsets.append(position)
        position += len(part)
    xref = b"xref\n0 3\n0000000000 65535 f \n" + b"".join(
        f"{o:010d} 00000 n \n".encode() for o in offsets[1:]
    )
    trailer = f"trailer << /Size 3 /Root 1 0 R >>\nstartxref\n{position}\n%%EOF\n".encode()
    return b"".join(body) + xref + trailer


def bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A tiny PNG whose header declares ``width × height`` pixels (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * 4096, 9)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    )
