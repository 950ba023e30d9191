"""The bad-input corpus: files that are not usable images, and valid images in unusual modes.

Every builder is deterministic and independent of the server: the expected answer of each entry
is stated here, from the API contract (docs/architecture.md), not copied from a run.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from dataclasses import dataclass

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class Bad:
    """A refused upload: its file name, bytes, the status and a word the reason must hold."""

    id: str
    name: str
    data: bytes
    status: int
    reason: str


def pixels(width: int, height: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def jpeg(width: int = 48, height: int = 40, seed: int = 0) -> bytes:
    return encode(Image.fromarray(pixels(width, height, seed)), "JPEG", quality=90)


def png(width: int = 48, height: int = 40, seed: int = 0) -> bytes:
    return encode(Image.fromarray(pixels(width, height, seed)), "PNG")


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def raw_png(width: int, height: int, bit_depth: int, color_type: int, rows: bytes) -> bytes:
    """A PNG written by hand (for header bombs and 16-bit RGB, which Pillow does not write)."""
    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(rows))
        + _chunk(b"IEND", b"")
    )


def png_rgb16(array16: np.ndarray) -> bytes:
    """A 48-bit RGB PNG of a ``uint16 [H, W, 3]`` array."""
    height = array16.shape[0]
    rows = b"".join(b"\x00" + array16[y].astype(">u2").tobytes() for y in range(height))
    return raw_png(array16.shape[1], height, 16, 2, rows)


def png_header_bomb(side: int = 20000) -> bytes:
    """A PNG that declares ``side`` x ``side`` pixels but carries one row: a few hundred bytes."""
    return raw_png(side, side, 8, 0, b"\x00" + bytes(side))


def jpeg_header_bomb(side: int = 20000) -> bytes:
    """A small JPEG whose frame header (SOF0) is rewritten to declare ``side`` x ``side``."""
    data = bytearray(jpeg(16, 16))
    at = data.find(b"\xff\xc0")
    assert at > 0, "baseline JPEG expected"
    data[at + 5 : at + 9] = struct.pack(">HH", side, side)
    return bytes(data)


def animated_gif() -> bytes:
    frames = [Image.new("RGB", (20, 20), color) for color in ("red", "green", "blue")]
    out = io.BytesIO()
    frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)
    return out.getvalue()


def zip_file() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("lesion.jpg", jpeg())
    return out.getvalue()


SVG = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="20" height="20">'
    b'<script>alert(1)</script><rect width="20" height="20" fill="red"/></svg>'
)


def bad_files() -> list[Bad]:
    """One entry per kind of unusable file; the reason must name the file too."""
    good_jpeg = jpeg(64, 64)
    good_png = png(64, 64)
    return [
        Bad("empty", "empty.jpg", b"", 422, "empty"),
        Bad("text-named-jpg", "notes.jpg", b"Patient seen on Monday.\n" * 20, 415, "not a JPEG"),
        Bad("corrupt-jpeg", "corrupt.jpg", good_jpeg[:20] + bytes(range(256)) * 8, 422, "corrupt"),
        Bad("corrupt-png", "corrupt.png", good_png[:16] + b"\xde\xad" * 300, 422, "corrupt"),
        Bad("truncated-jpeg", "cut.jpg", good_jpeg[: len(good_jpeg) // 3], 422, "corrupt"),
        Bad("png-bomb", "bomb.png", png_header_bomb(), 413, "limit"),
        Bad("jpeg-bomb", "bomb.jpg", jpeg_header_bomb(), 413, "limit"),
        Bad("animated-gif", "anim.gif", animated_gif(), 415, "not a JPEG"),
        Bad("svg", "vector.svg", SVG, 415, "not a JPEG"),
        Bad("svg-named-jpg", "vector.jpg", SVG, 415, "not a JPEG"),
        Bad("zip", "images.zip", zip_file(), 415, "not a JPEG"),
        Bad("jpeg-magic-only", "magic.jpg", b"\xff\xd8\xff", 422, "corrupt"),
    ]
