"""The e-Fatura viewer's HTML (the XSLT rendering of a UBL-TR invoice) → SPEC §4.1 records.

What it is for: ``read_html(content)`` turns the page's tables into text lines (one line per
table row, cells two spaces apart, block elements on their own lines) and reads them with
``read_invoice_text`` (method ``html``), so the label logic and the checks are the ones of the
PDF text layer. The stdlib ``html.parser`` only: it never fetches anything, expands no external
entity and does not recurse, so deep nesting cannot exhaust the stack.

Not for: HTML that is no invoice (it ends as ``no_invoice_found``) or the UBL-TR XML itself.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

from resources.readers.errors import ReaderError
from resources.readers.text_invoice import read_invoice_text

DEFAULT_MAX_HTML_BYTES = 20 * 1024 * 1024
_BLOCKS = frozenset(
    {"p", "div", "br", "tr", "table", "h1", "h2", "h3", "h4", "h5", "h6", "li", "ul", "ol"}
    | {"section", "header", "footer", "thead", "tbody", "tfoot", "caption", "hr", "body"}
)
_CELLS = frozenset({"td", "th"})
_SKIP = frozenset({"script", "style", "head", "title", "noscript", "template", "svg"})
_CHARSET = re.compile(rb"""(?i)<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_-]+)""")
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")


class _Rows(HTMLParser):
    """Collects visible text as lines: a row's cells on one line, blocks apart."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self._line: list[str] = []
        self._cell: list[str] = []
        self._in_cell = 0
        self._skip = 0

    def _end_line(self) -> None:
        self._end_cell()
        text = "  ".join(part for part in self._line if part)
        if text.strip():
            self.lines.append(text.strip())
        self._line = []

    def _end_cell(self) -> None:
        if self._cell:
            text = _SPACES.sub(" ", "".join(self._cell)).strip()
            if text:
                self._line.append(text)
        self._cell = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._boundary(tag, opening=True)

    def handle_endtag(self, tag: str) -> None:
        self._boundary(tag, opening=False)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _SKIP:
            self._boundary(tag, opening=True)

    def _boundary(self, tag: str, *, opening: bool) -> None:
        if tag in _SKIP:
            self._skip = self._skip + 1 if opening else max(0, self._skip - 1)
        elif tag in _CELLS:
            self._end_cell()
            self._in_cell = self._in_cell + 1 if opening else max(0, self._in_cell - 1)
        elif tag in ("tr", "table"):
            self._end_line()
        elif tag in _BLOCKS:
            # a block inside a cell splits the cell's text, elsewhere it ends the line
            if self._in_cell:
                self._end_cell()
            else:
                self._end_line()

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self._cell.append(data)

    def close(self) -> None:
        super().close()
        self._end_line()


def _decode(content: bytes) -> str:
    if content.startswith(b"\xef\xbb\xbf"):
        return content[3:].decode("utf-8", errors="replace")
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        pass
    declared = _CHARSET.search(content[:4096])
    for encoding in ([declared.group(1).decode("ascii")] if declared else []) + ["cp1254"]:
        try:
            return content.decode(encoding, errors="replace")
        except LookupError:
            continue
    return content.decode("latin-1")


def html_lines(content: bytes, *, max_bytes: int = DEFAULT_MAX_HTML_BYTES) -> list[str]:
    """The visible text of an HTML page as lines (table rows with their cells two spaces
    apart); ``html_too_large`` above ``max_bytes``, ``html_invalid`` when it is no HTML."""
    if len(content) > max_bytes:
        raise ReaderError("html_too_large", f"{len(content)} bytes > limit {max_bytes}")
    text = _decode(content)
    if "<" not in text[:65536]:
        raise ReaderError("html_invalid", "no markup in the first 64 KiB")
    parser = _Rows()
    try:
        parser.feed(text)
        parser.close()
    except (AssertionError, ValueError) as exc:  # html.parser's own failures on broken markup
        raise ReaderError("html_invalid", f"unparseable HTML: {exc}") from exc
    return parser.lines


def read_html(
    content: bytes,
    *,
    max_bytes: int = DEFAULT_MAX_HTML_BYTES,
    low_confidence: float | None = None,
) -> list[dict[str, Any]]:
    """The invoice of an e-Fatura HTML rendering (the viewer saves one invoice a page), read as
    one page of text; ``no_invoice_found`` when its text holds none."""
    lines = html_lines(content, max_bytes=max_bytes)
    if not lines:
        raise ReaderError("no_invoice_found", "the HTML holds no visible text")
    return read_invoice_text(["\n".join(lines)], method="html", low_confidence=low_confidence)
