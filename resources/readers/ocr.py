"""OCR of image-only pages and images with rapidocr (its bundled default models, nothing fetched).

What it is for: screenshots of the e-Fatura viewer saved as PDF or PNG/JPEG carry no text layer
(facts §1, §6). ``image_from_bytes`` decodes an image after checking its declared size (a
decompression bomb is ``image_too_large`` before any pixel is decoded); ``ocr_text`` runs the
rapidocr engine on one image and groups the recognised boxes by their vertical centre into text
lines, left to right, so the result reads like a text layer and goes through the same parser
(``read_invoice_text(..., method="ocr")``). The engine is built once per process, lazily (loading
it costs ~0.7 s; a page costs 10–16 s on 2 cores). Only rapidocr's default models are used: any
other model makes it try a download, which fails offline.

Not for: deciding when to OCR (``resources/readers/router.py``), or caching (the router keeps
OCR readings in the extraction cache under their own model key).
"""

from __future__ import annotations

import io
import threading
from statistics import median
from typing import Any

import numpy as np

from resources.readers.errors import ReaderError

MAX_PIXELS = 40_000_000  # ~ a 6300 × 6300 image; real screenshots are ~900 × 1200
OCR_MODEL = "rapidocr-3/ppocr-default"  # the extraction cache's model key for OCR readings

_lock = threading.Lock()
_engine: Any = None


def engine_version() -> str:
    from importlib.metadata import version

    return f"rapidocr-{version('rapidocr')}"


def _get_engine() -> Any:
    global _engine
    with _lock:
        if _engine is None:
            from rapidocr import RapidOCR

            _engine = RapidOCR(params={"Global.log_level": "error"})
        return _engine


def image_size(content: bytes) -> tuple[int, int]:
    """Width and height as the image declares them (header only; ``ReaderError`` if unreadable)."""
    import warnings

    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # judged below
            with Image.open(io.BytesIO(content)) as image:
                return int(image.size[0]), int(image.size[1])
    except Image.DecompressionBombError as exc:
        raise ReaderError("image_too_large", f"decompression bomb refused: {exc}") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise ReaderError("image_invalid", f"not a readable image: {exc}") from None


def check_pixels(width: int, height: int, max_pixels: int = MAX_PIXELS) -> None:
    if width * height > max_pixels:
        raise ReaderError(
            "image_too_large",
            f"{width}×{height} = {width * height} pixels > limit {max_pixels} "
            "(a decompression bomb?)",
        )


def image_from_bytes(content: bytes, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """The image as a BGR array, refused before decoding when it declares too many pixels."""
    import cv2

    width, height = image_size(content)
    check_pixels(width, height, max_pixels)
    array = cv2.imdecode(np.frombuffer(content, np.uint8), cv2.IMREAD_COLOR)
    if array is None:  # a format OpenCV lacks (GIF): decode with Pillow
        from PIL import Image

        try:
            with Image.open(io.BytesIO(content)) as image:
                array = np.asarray(image.convert("RGB"))[:, :, ::-1].copy()
        except (OSError, ValueError) as exc:
            raise ReaderError("image_invalid", f"the image does not decode: {exc}") from None
    return array


def group_lines(boxes: list[Any], texts: list[str]) -> list[str]:
    """Recognised boxes grouped into lines by their vertical centre, each left to right."""
    items = []
    for box, text in zip(boxes, texts, strict=True):
        points = np.asarray(box, dtype="float64").reshape(-1, 2)
        top, bottom = float(points[:, 1].min()), float(points[:, 1].max())
        items.append(((top + bottom) / 2, bottom - top, float(points[:, 0].min()), text))
    if not items:
        return []
    half = max(median(h for _, h, _, _ in items) / 2, 1.0)
    items.sort(key=lambda i: i[0])
    lines: list[list[tuple[float, float, float, str]]] = []
    for item in items:
        if lines and abs(item[0] - np.mean([i[0] for i in lines[-1]])) <= half:
            lines[-1].append(item)
        else:
            lines.append([item])
    return ["  ".join(t for _, _, _, t in sorted(line, key=lambda i: i[2])) for line in lines]


def ocr_text(image: np.ndarray) -> str:
    """The text of one image, as lines (``ReaderError`` ``ocr_failed`` if the engine fails)."""
    if image is None or image.size == 0:
        return ""
    check_pixels(image.shape[1], image.shape[0])
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    elif image.shape[2] == 4:  # composite on white: transparent pixels are paper
        alpha = image[:, :, 3:4].astype("float32") / 255.0
        image = (image[:, :, :3] * alpha + 255.0 * (1.0 - alpha)).astype("uint8")
    try:
        result = _get_engine()(image)
    except Exception as exc:  # the engine's own failure: one document, not the step
        raise ReaderError("ocr_failed", f"{type(exc).__name__}: {exc}") from None
    boxes = getattr(result, "boxes", None)
    texts = getattr(result, "txts", None)
    if boxes is None or texts is None:
        return ""
    return "\n".join(group_lines(list(boxes), [str(t) for t in texts]))
