"""Checking uploaded images before anything is queued: the shared validation of API and workers.

The uploaded file name is only a label: it is reduced to its last path component, stripped of
control characters and never used to build a path. Images are decoded here (content sniffed from
the bytes, pixel limit enforced before decoding) and kept as decoded RGB pixels, so EXIF and other
metadata never reach the disk.

A task queue does not keep the upload itself but a :class:`PreparedImage`: the model-ready
pixels (the resize step of the one preprocessing function, uint8 ``[S, S, 3]``) and a small
display copy for the heat-map overlay (longest side at most :data:`DISPLAY_MAX_SIDE`, JPEG).
Both are bounded whatever was uploaded, and cheap to write and read back (see
docs/performance.md section 3).
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

import numpy as np
from PIL import Image

from dermcad.inference.preprocess import (
    ImageError,
    ImageTooLargeError,
    PreprocessSpec,
    decode_image,
    resize,
)
from dermcad.units import human_bytes

# Control characters, and the bidirectional overrides that make a label read as another name.
_CONTROL = re.compile("[\x00-\x1f\x7f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_TRANSPOSING_ORIENTATIONS = (5, 6, 7, 8)
#: The display copy kept for heat-map overlays: longest side in pixels, and its JPEG quality.
DISPLAY_MAX_SIDE = 512
DISPLAY_JPEG_QUALITY = 90


@dataclass(frozen=True)
class Upload:
    """A validated image: its label, decoded pixels (RGB, oriented) and original size."""

    name: str
    image: Image.Image
    width: int
    height: int


@dataclass(frozen=True)
class PreparedImage:
    """What a task store keeps of one upload: nothing a worker would have to decode again.

    ``pixels`` is the model-ready image (uint8 ``[S, S, 3]``, already resized for the model's
    :class:`PreprocessSpec`; :func:`dermcad.inference.preprocess.to_array` does not resize it
    again) and ``display`` a JPEG of the upright image, longest side at most
    :data:`DISPLAY_MAX_SIDE`, without metadata (heat-map overlays are drawn on it).
    """

    name: str
    pixels: np.ndarray
    display: bytes
    width: int
    height: int


def prepare_upload(upload: Upload, spec: PreprocessSpec) -> PreparedImage:
    """The model input and the display copy of a validated upload."""
    return PreparedImage(
        name=upload.name,
        pixels=np.ascontiguousarray(resize(upload.image, spec), dtype=np.uint8),
        display=display_jpeg(upload.image),
        width=upload.width,
        height=upload.height,
    )


def display_jpeg(image: Image.Image) -> bytes:
    """A JPEG of ``image`` shrunk to :data:`DISPLAY_MAX_SIDE` (aspect kept), no metadata."""
    small = image if image.mode == "RGB" else image.convert("RGB")
    longest = max(small.size)
    if longest > DISPLAY_MAX_SIDE:
        scale = DISPLAY_MAX_SIDE / longest
        size = (max(1, round(small.width * scale)), max(1, round(small.height * scale)))
        small = small.resize(size, Image.Resampling.BILINEAR, reducing_gap=3.0)
    # Pixels only: the decoded image's info still holds the upload's EXIF, comment, XMP or ICC
    # blocks, and Pillow writes some of them back by default (the JPEG comment does).
    bare = Image.frombytes("RGB", small.size, small.tobytes())
    out = io.BytesIO()
    bare.save(out, format="JPEG", quality=DISPLAY_JPEG_QUALITY)
    return out.getvalue()


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
        raise ImageTooLargeError(
            f"{name}: file of {human_bytes(len(data))}, "
            f"more than the limit of {human_bytes(max_bytes)}"
        )
    if not data:
        raise type_error(name, ImageError("empty file"))
    try:
        image = decode_image(data, draft_size=draft_size, max_pixels=max_pixels)
        width, height = _original_size(data)
    except ImageError as exc:
        raise type_error(name, exc) from exc
    return Upload(name=name, image=image, width=width, height=height)


def prepare_uploaded_file(
    data: bytes, name: str, spec: PreprocessSpec, *, max_bytes: int, max_pixels: int
) -> PreparedImage:
    """:func:`decode_upload` (draft decoding to the model's size) then :func:`prepare_upload`."""
    upload = decode_upload(
        data, name, draft_size=spec.img_size, max_bytes=max_bytes, max_pixels=max_pixels
    )
    return prepare_upload(upload, spec)


def type_error(name: str, exc: ImageError) -> ImageError:
    """The same kind of error (same HTTP status), its message prefixed with the file's label."""
    renamed = type(exc)(f"{name}: {exc}")
    return renamed
