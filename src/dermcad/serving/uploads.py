"""Checking uploaded images before anything is queued: the shared validation of API and workers.

The uploaded file name is only a label: it is reduced to its last path component, stripped of
control characters and never used to build a path. Images are decoded here (content sniffed from
the bytes, pixel limit enforced before decoding) and kept as decoded RGB pixels, so EXIF and other
metadata never reach the disk.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

from PIL import Image

from dermcad.preprocess import ImageError, ImageTooLargeError, decode_image

# Control characters, and the bidirectional overrides that make a label read as another name.
_CONTROL = re.compile("[\x00-\x1f\x7f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_TRANSPOSING_ORIENTATIONS = (5, 6, 7, 8)


@dataclass(frozen=True)
class Upload:
    """A validated image: its label, decoded pixels (RGB, oriented) and original size."""

    name: str
    image: Image.Image
    width: int
    height: int


def safe_label(filename: str | None, index: int) -> str:
    """A display label from an uploaded file name: last path component, printable, bounded."""
    raw = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    label = _CONTROL.sub("", raw).strip()[:200]
    return label if label not in ("", ".", "..") else f"image_{index + 1}"


def _original_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as header:
        width, height = header.size
        orientation = header.getexif().get(0x0112)
    if orientation in _TRANSPOSING_ORIENTATIONS:
        return height, width
    return width, height


def decode_upload(
    data: bytes, name: str, *, draft_size: int, max_bytes: int, max_pixels: int
) -> Upload:
    """Validate and decode one upload; an :class:`ImageError` naming the file when it fails."""
    if len(data) > max_bytes:
        raise ImageTooLargeError(f"{name}: file has {len(data)} bytes, more than {max_bytes}")
    if not data:
        raise type_error(name, ImageError("empty file"))
    try:
        image = decode_image(data, draft_size=draft_size, max_pixels=max_pixels)
        width, height = _original_size(data)
    except ImageError as exc:
        raise type_error(name, exc) from exc
    return Upload(name=name, image=image, width=width, height=height)


def type_error(name: str, exc: ImageError) -> ImageError:
    """The same kind of error (same HTTP status), its message prefixed with the file's label."""
    renamed = type(exc)(f"{name}: {exc}")
    return renamed
