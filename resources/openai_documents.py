"""The documents the OpenAI extractor sends: checks before any call, and the request ``input``.

What it is for: ``check_document`` gives a file's kind (``pdf`` or ``image``) or the error that
stops it before a paid call (``empty_file``, ``file_too_large``, ``unsupported_type``,
``unreadable_pdf``); ``document_input`` builds the Responses API ``input`` (the prompt plus the
document as a base64 data URL), once per distinct document.

Not for: reading or judging the answer (``resources/openai_answer.py``), or pre-extracted JSON
(``resources/extractor.py``). Pure functions of the bytes: no I/O, no ``openai`` import.
"""

from __future__ import annotations

import base64
import re
import zlib
from typing import Any

from invoice_assets.domain.records import ItemError, sniff_kind
from resources.openai_answer import PROMPT

_PAGE_OBJECT = re.compile(rb"/Type\s*/Page\b")
_OBJECT_STREAM = re.compile(rb"/Type\s*/ObjStm\b")
_STREAM_START = re.compile(rb"stream\r?\n")
_EOF_WINDOW = 2048  # bytes at the end of a PDF that must hold %%EOF
_OBJSTM_SCAN_LIMIT = 256  # object streams inflated when looking for a page object
_OBJSTM_INFLATE_BYTES = 1 << 22
_IMAGE_MIME = {
    b"\x89PNG": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
    b"GIF8": "image/gif",
    b"RIFF": "image/webp",
}


def has_page_object(content: bytes) -> bool:
    """A ``/Type /Page`` object, in plain text or inside a compressed object stream (PDF 1.5+)."""
    if _PAGE_OBJECT.search(content):
        return True
    for scanned, match in enumerate(_OBJECT_STREAM.finditer(content)):
        if scanned == _OBJSTM_SCAN_LIMIT:
            break
        start = _STREAM_START.search(content, match.end())
        end = content.find(b"endstream", start.end()) if start else -1
        if start is None or end == -1:
            continue
        try:
            inflated = zlib.decompressobj().decompress(
                content[start.end() : end], _OBJSTM_INFLATE_BYTES
            )
        except zlib.error:
            continue
        if _PAGE_OBJECT.search(inflated):
            return True
    return False


def check_document(content: bytes, max_bytes: int) -> tuple[str, ItemError | None]:
    """The document's kind (``pdf`` or ``image``) or the error that stops it before any call."""
    if not content.strip():
        return "empty", ItemError("empty_file", None, "the file is empty")
    if len(content) > max_bytes:
        return "large", ItemError(
            "file_too_large", None, f"{len(content)} bytes > limit {max_bytes}"
        )
    kind = sniff_kind(content)
    if kind not in ("pdf", "image"):
        message = f"content is {kind}, not a PDF or a PNG/JPEG/GIF/WebP image"
        return kind, ItemError("unsupported_type", None, message)
    if kind == "pdf":
        if b"%%EOF" not in content[-_EOF_WINDOW:]:
            return kind, ItemError("unreadable_pdf", None, "no %%EOF at the end (truncated?)")
        if not has_page_object(content):
            return kind, ItemError("unreadable_pdf", None, "no page object found")
    return kind, None


def _image_mime(content: bytes) -> str:
    for magic, mime in _IMAGE_MIME.items():
        if content.startswith(magic):
            return mime
    return "application/octet-stream"


def document_input(name: str, content: bytes, kind: str) -> list[dict[str, Any]]:
    """The Responses API ``input``: one user message with the prompt and the document."""
    data = base64.b64encode(content).decode("ascii")
    document: dict[str, Any]
    if kind == "pdf":
        document = {
            "type": "input_file",
            "filename": name,
            "file_data": f"data:application/pdf;base64,{data}",
        }
    else:
        url = f"data:{_image_mime(content)};base64,{data}"
        document = {"type": "input_image", "image_url": url, "detail": "high"}
    return [{"role": "user", "content": [{"type": "input_text", "text": PROMPT}, document]}]
