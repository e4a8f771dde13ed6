"""Opening PDFs: hostile files end as one clear code, fast; images and renderings come out."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest
from PIL import Image

from resources.readers.errors import ReaderError
from resources.readers.pdf import open_pdf, read_pdf_text
from tests.documents.hostile import (
    corrupt_pdf,
    encrypted_pdf,
    huge_image_pdf,
    many_pages_pdf,
    zero_page_pdf,
)
from tests.documents.pdf import make_invoice_pdf, page_png
from tests.documents.spec import InvoiceSpec

HOSTILE = {
    "pdf_encrypted": encrypted_pdf,
    "pdf_corrupt": corrupt_pdf,
    "pdf_empty": zero_page_pdf,
    "pdf_too_many_pages": many_pages_pdf,
}


@pytest.mark.parametrize("code", list(HOSTILE))
def test_a_hostile_pdf_gives_its_code_quickly(code: str) -> None:
    content = HOSTILE[code]()
    started = time.perf_counter()
    with pytest.raises(ReaderError) as raised:
        read_pdf_text(content, max_pages=50)
    assert raised.value.code == code
    assert time.perf_counter() - started < 5  # never a hang (measured: milliseconds)


@pytest.mark.parametrize(
    "content",
    [b"", b"hello", b"%PDF-1.4\n", make_invoice_pdf(InvoiceSpec())[:300]],
    ids=["empty", "not a pdf", "header only", "truncated"],
)
def test_truncated_or_foreign_bytes_are_corrupt(content: bytes) -> None:
    with pytest.raises(ReaderError) as raised:
        open_pdf(content, max_pages=5)
    assert raised.value.code == "pdf_corrupt"


def test_the_page_limit_counts_pages_exactly() -> None:
    with open_pdf(many_pages_pdf(50), max_pages=50) as doc:
        assert doc.page_count == 50
    with pytest.raises(ReaderError, match="51 pages > limit 50"):
        open_pdf(many_pages_pdf(51), max_pages=50)


def test_a_decompression_bomb_image_is_skipped_not_decoded() -> None:
    with open_pdf(huge_image_pdf(), max_pages=5) as doc:
        started = time.perf_counter()
        assert doc.images(0) == []
        assert time.perf_counter() - started < 2


def _qr_like_png() -> bytes:
    pattern = np.kron(np.indices((21, 21)).sum(axis=0) % 2, np.ones((8, 8))) * 255
    buffer = io.BytesIO()
    Image.fromarray(pattern.astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_an_embedded_png_comes_out_as_an_array_with_its_pixels() -> None:
    png = _qr_like_png()
    content = make_invoice_pdf(InvoiceSpec(), qr_png=png)
    with open_pdf(content, max_pages=5) as doc:
        images = doc.images(0)
        assert len(images) == 1
        expected = np.asarray(Image.open(io.BytesIO(png)).convert("L"))
        got = images[0] if images[0].ndim == 2 else images[0][..., 0]
        assert got.shape == expected.shape == (168, 168)
        assert np.array_equal(got, expected)
        assert doc.text(0)  # the text layer is still there
    records, image_pages = read_pdf_text(content, max_pages=5, low_confidence=0.6)
    assert len(records) == 1 and image_pages == []


def test_render_gives_an_rgb_page_at_the_asked_scale() -> None:
    with open_pdf(make_invoice_pdf(InvoiceSpec()), max_pages=5) as doc:
        page = doc.render(0, scale=1.0)
        assert page.shape[0] == 842 and page.shape[1] in (595, 596) and page.shape[2] == 3
        assert page.dtype == np.uint8
        assert page.min() < 50 < 200 < page.max()  # black text on white
        with pytest.raises(IndexError):
            doc.text(1)


def test_page_png_renders_a_page_for_image_inputs() -> None:
    png = page_png(make_invoice_pdf(InvoiceSpec()))
    assert Image.open(io.BytesIO(png)).size == (893, 1263)
