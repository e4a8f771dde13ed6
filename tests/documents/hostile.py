"""Hostile PDFs: encrypted, corrupt, zero pages, thousands of pages, a huge embedded image."""

from __future__ import annotations

import io
import zlib
from functools import cache

from reportlab.lib.pagesizes import A4
from reportlab.lib.pdfencrypt import StandardEncryption
from reportlab.pdfgen import canvas


def encrypted_pdf(user_password: str = "gizli") -> bytes:
    """A one-page invoice-like PDF that needs a password to open."""
    buffer = io.BytesIO()
    pdf = canvas.Canvas(
        buffer, pagesize=A4, encrypt=StandardEncryption(user_password, "sahip", canPrint=1)
    )
    pdf.drawString(40, 800, "Fatura No: ABC2025000123456  ÖDENECEK TUTAR 1.234,56")
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def corrupt_pdf() -> bytes:
    """A PDF header followed by bytes that are no PDF structure."""
    return b"%PDF-1.7\n" + bytes(range(256)) * 64 + b"\n%%EOF\n"


def _objects_pdf(objects: list[bytes]) -> bytes:
    """A well-formed PDF from numbered object bodies (cross-reference table included)."""
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(
        b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    )
    return out.getvalue()


def zero_page_pdf() -> bytes:
    """A valid PDF whose page tree is empty."""
    return _objects_pdf(
        [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [] /Count 0 >>"]
    )


@cache
def many_pages_pdf(pages: int = 5000) -> bytes:
    """``pages`` pages sharing one content stream (small file, many pages)."""
    kids = b" ".join(b"%d 0 R" % (4 + i) for i in range(pages))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % pages,
        b"<< /Length 0 >>\nstream\n\nendstream",
    ]
    objects += [
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 3 0 R >>"
        for _ in range(pages)
    ]
    return _objects_pdf(objects)


def huge_image_pdf(side: int = 20000) -> bytes:
    """One page holding a ``side``×``side`` gray image that compresses to almost nothing (a
    decompression bomb: 400 MB of pixels from a few hundred KB)."""
    raw = zlib.compress(b"\xff" * side * 64, 9)  # 64 rows; the stream claims `side` rows
    image = (
        b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray"
        b" /BitsPerComponent 8 /Filter /FlateDecode /Length %d >>\nstream\n"
        % (side, side, len(raw))
        + raw
        + b"\nendstream"
    )
    content = b"q 500 0 0 700 40 70 cm /Im1 Do Q"
    return _objects_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R"
            b" /Resources << /XObject << /Im1 5 0 R >> >> >>",
            b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
            image,
        ]
    )
