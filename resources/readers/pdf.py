"""PDF documents through pypdfium2: text layer, embedded images, rendering, and the text reader.

What it is for: opening an invoice PDF from bytes with its failures named (``pdf_encrypted``,
``pdf_corrupt``, ``pdf_empty``, ``pdf_too_many_pages``), handing out each page's text, its
embedded raster images (QR codes, screenshots saved as PDF) and a rendering, and
``read_pdf_text``: the records of the text layer plus the pages that have no text, which the OCR
path reads. pypdfium2 only (PyMuPDF is AGPL).

Not for: OCR, QR decoding or routing (the router and the OCR/QR readers build on ``PdfDoc``).
PDFium is not thread-safe: one ``PdfDoc`` belongs to one thread.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from itertools import pairwise
from types import TracebackType

import numpy as np
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from resources.readers.errors import ReaderError
from resources.readers.text_invoice import read_invoice_text

_PASSWORD_ERROR = 4  # FPDF_ERR_PASSWORD
DEFAULT_MAX_IMAGE_PIXELS = 40_000_000  # an embedded image larger than this is skipped, not decoded


class PdfDoc:
    """An open PDF: ``page_count``, ``text(i)``, ``images(i)``, ``render(i, scale)``, ``close()``.

    Pages are 0-based here; records carry 1-based page numbers. Use as a context manager.
    """

    def __init__(self, pdf: pdfium.PdfDocument) -> None:
        self._pdf = pdf
        self.page_count = len(pdf)

    def __enter__(self) -> PdfDoc:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._pdf.close()

    def _page(self, index: int) -> pdfium.PdfPage:
        if not 0 <= index < self.page_count:
            raise IndexError(f"page {index} of a {self.page_count}-page document")
        return self._pdf[index]

    def largest_image_pixels(self, index: int, *, above: int = 0) -> int:
        """The pixel count of the largest raster image on page ``index`` that holds more than
        ``above`` pixels (0 if none), from the images' declared sizes: nothing is decoded."""
        page = self._page(index)
        try:
            sizes = [w * h for obj in _images_on(page) for w, h in [obj.get_px_size()]]
        finally:
            page.close()
        return max((size for size in sizes if size > above), default=0)

    def text(self, index: int) -> str:
        """The text layer of page ``index`` (``""`` for an image-only page)."""
        page = self._page(index)
        try:
            textpage = page.get_textpage()
            try:
                text = str(textpage.get_text_bounded())
                return _respaced(textpage) if letter_spaced(text) else text
            finally:
                textpage.close()
        except pdfium.PdfiumError as exc:
            raise ReaderError("pdf_corrupt", f"page {index + 1}: text unreadable: {exc}") from exc
        finally:
            page.close()

    def images(self, index: int, *, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS) -> list[np.ndarray]:
        """The raster images placed on page ``index`` (top-level and inside forms), decoded to
        arrays (H×W gray, H×W×3 RGB or H×W×4 RGBA); an image above ``max_pixels`` is skipped."""
        page = self._page(index)
        out: list[np.ndarray] = []
        try:
            for obj in _images_on(page):
                try:
                    width, height = obj.get_px_size()
                    if width <= 0 or height <= 0 or width * height > max_pixels:
                        continue
                    bitmap = obj.get_bitmap(render=False)
                    array = _rgb(bitmap)
                except pdfium.PdfiumError:
                    continue  # an image PDFium cannot decode is no image to read
                if array is not None:
                    out.append(array)
        finally:
            page.close()
        return out

    def render(self, index: int, scale: float = 2.0) -> np.ndarray:
        """Page ``index`` rendered to an RGB array (``scale`` 1 = 72 dpi)."""
        page = self._page(index)
        try:
            bitmap = page.render(scale=scale, rev_byteorder=True)
            try:
                return _rgb(bitmap, keep_alpha=False)  # type: ignore[return-value]
            finally:
                bitmap.close()
        except pdfium.PdfiumError as exc:
            raise ReaderError("pdf_corrupt", f"page {index + 1}: cannot render: {exc}") from exc
        finally:
            page.close()


def _images_on(page: pdfium.PdfPage) -> Iterator[pdfium.PdfImage]:
    """The raster image objects placed on ``page``, top-level and inside forms."""
    for obj in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=3):
        if isinstance(obj, pdfium.PdfImage):
            yield obj


def letter_spaced(text: str) -> bool:
    """Does a page's text come out letter-spaced (``A k t i f  1 2 3 . 4 0 6``)? A line of at
    least eight pieces of which most are one character long is the sign."""
    for line in text.splitlines():
        pieces = line.split()
        if len(pieces) >= 8 and sum(len(p) == 1 for p in pieces) >= 0.6 * len(pieces):
            return True
    return False


def _respaced(textpage: pdfium.PdfTextPage) -> str:
    """The page's text rebuilt from the glyphs' loose boxes: within a line the common gap is the
    letter spacing; a gap wider by a fifth of the font height is a word space, by a full height
    a column gap (two spaces). Used only on letter-spaced pages (facts §2)."""
    count = textpage.count_chars()
    chars = textpage.get_text_range(0, count)
    glyphs: list[tuple[str, float, float, float, float]] = []
    for index, char in enumerate(chars[:count]):
        if char.isspace():
            continue
        left, bottom, right, top = textpage.get_charbox(index, loose=True)
        glyphs.append((char, left, bottom, right, top))
    lines: list[list[tuple[str, float, float, float, float]]] = []
    for glyph in glyphs:
        if lines:
            last = lines[-1][-1]
            height = max(last[4] - last[2], 1.0)
            same_row = abs((glyph[2] + glyph[4]) - (last[2] + last[4])) / 2 < 0.5 * height
            if same_row and glyph[1] >= last[1] - 0.5 * height:
                lines[-1].append(glyph)
                continue
        lines.append([glyph])
    return "\n".join(_line_text(line) for line in lines)


def _line_text(line: list[tuple[str, float, float, float, float]]) -> str:
    if len(line) == 1:
        return line[0][0]
    gaps = [b[1] - a[3] for a, b in pairwise(line)]
    heights = sorted(g[4] - g[2] for g in line)
    size = max(heights[len(heights) // 2], 1.0)
    common = sorted(gaps)[int(len(gaps) * 0.35)]
    out = [line[0][0]]
    for gap, glyph in zip(gaps, line[1:], strict=True):
        if gap > common + size:
            out.append("  ")
        elif gap > common + 0.15 * size:
            out.append(" ")
        out.append(glyph[0])
    return "".join(out)


def _rgb(bitmap: pdfium.PdfBitmap, *, keep_alpha: bool = True) -> np.ndarray | None:
    """A copy of a PDFium bitmap as a numpy array with RGB channel order."""
    array = bitmap.to_numpy()
    mode = bitmap.mode
    if mode in ("L", "1"):
        return np.array(array[..., 0] if array.ndim == 3 else array, copy=True)
    if array.ndim != 3:
        return None
    if mode in ("BGR", "BGRA", "BGRX"):
        array = array[..., [2, 1, 0, 3]] if array.shape[2] == 4 else array[..., ::-1]
    if array.shape[2] == 4 and (not keep_alpha or mode in ("BGRX", "RGBX")):
        array = array[..., :3]
    return np.ascontiguousarray(array)


_EMPTY_TREE = re.compile(rb"/Type\s*/Pages\b[^>]*/Count\s+0\b|/Count\s+0\b[^>]*/Type\s*/Pages\b")
_PAGE = re.compile(rb"/Type\s*/Page(?![s\w])")


def _declares_no_pages(content: bytes) -> bool:
    """PDFium refuses a document without pages as malformed; its page tree says it is empty."""
    return bool(_EMPTY_TREE.search(content)) and not _PAGE.search(content)


def open_pdf(content: bytes, *, max_pages: int) -> PdfDoc:
    """Open a PDF from bytes, or ``ReaderError``: ``pdf_encrypted``, ``pdf_corrupt``,
    ``pdf_empty`` (no pages) or ``pdf_too_many_pages`` (more than ``max_pages``)."""
    if not content.lstrip()[:1024].startswith(b"%PDF-") and b"%PDF-" not in content[:1024]:
        raise ReaderError("pdf_corrupt", "no %PDF- header in the first 1024 bytes")
    try:
        pdf = pdfium.PdfDocument(content)
    except pdfium.PdfiumError as exc:
        if exc.err_code == _PASSWORD_ERROR:
            raise ReaderError("pdf_encrypted", "the PDF needs a password") from exc
        if _declares_no_pages(content):
            raise ReaderError("pdf_empty", "the PDF has no pages") from exc
        raise ReaderError("pdf_corrupt", f"PDFium cannot open it: {exc}") from exc
    count = len(pdf)
    if count == 0:
        pdf.close()
        raise ReaderError("pdf_empty", "the PDF has no pages")
    if count > max_pages:
        pdf.close()
        raise ReaderError("pdf_too_many_pages", f"{count} pages > limit {max_pages}")
    return PdfDoc(pdf)


def read_pdf_text(
    content: bytes, *, max_pages: int, low_confidence: float | None = None
) -> tuple[list[dict], list[int]]:
    """``(records, image_pages)``: the invoices of the text layer and the 0-based indexes of the
    pages with no text at all (image-only pages, for OCR).

    ``records`` is empty when every page is image-only; when text pages hold no invoice this
    raises ``ReaderError("no_invoice_found")`` only if there are no image pages left to try.
    """
    with open_pdf(content, max_pages=max_pages) as doc:
        texts = [doc.text(i) for i in range(doc.page_count)]
    image_pages = [i for i, text in enumerate(texts) if not text.strip()]
    if len(image_pages) == len(texts):
        return [], image_pages
    try:
        records = read_invoice_text(texts, method="text", low_confidence=low_confidence)
    except ReaderError:
        if image_pages:
            return [], image_pages
        raise
    return records, image_pages
