"""A reproducible set of images that are not dermoscopy, for the out-of-distribution guard.

Nothing is downloaded: scikit-learn's two bundled sample photographs (``load_sample_images``) and
crops of them, screenshots of dermcad's own web UI (PNG files given by the caller, e.g.
``docs/img``) and their crops, and generated frames: documents rendered as images, solid colours
(skin tones included), noise, gradients and simple shapes. Every image has a *kind* and a fixed
name; :func:`halves` deals each kind alternately into a ``choice`` half (to pick the guard's method
on) and a ``report`` half (to report on), so the figures reported were not used to choose.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

_SIZE = 256
_WORDS = tuple(
    [
        "patient",
        "referral",
        "letter",
        "dermatology",
        "clinic",
        "appointment",
        "lesion",
        "history",
        "report",
        "date",
        "signature",
        "invoice",
        "total",
        "amount",
        "page",
        "summary",
        "findings",
        "recommendation",
        "follow-up",
        "review",
        "the",
        "and",
        "of",
        "to",
        "in",
        "for",
        "with",
        "on",
        "by",
        "as",
        "at",
        "from",
        "this",
        "that",
    ]
)
_SKIN = ((224, 172, 105), (241, 194, 125), (198, 134, 66), (141, 85, 36), (255, 219, 172))


@dataclass(frozen=True)
class NamedImage:
    name: str
    kind: str
    image: Image.Image


def _photo_crops(rng: np.random.Generator, n_crops: int) -> list[NamedImage]:
    from sklearn.datasets import load_sample_images

    found: list[NamedImage] = []
    bunch = load_sample_images()
    for filename, pixels in zip(bunch.filenames, bunch.images, strict=True):
        stem = Path(filename).stem
        photo = Image.fromarray(np.asarray(pixels, dtype=np.uint8))
        found.append(NamedImage(f"photo-{stem}-full", "photo", photo))
        found.extend(_crops(photo, f"photo-{stem}", "photo", rng, n_crops))
    return found


def _crops(
    image: Image.Image, stem: str, kind: str, rng: np.random.Generator, n: int
) -> list[NamedImage]:
    width, height = image.size
    crops: list[NamedImage] = []
    for i in range(n):
        side = int(min(width, height) * rng.uniform(0.25, 0.9))
        left = int(rng.integers(0, width - side + 1))
        top = int(rng.integers(0, height - side + 1))
        crop = image.crop((left, top, left + side, top + side))
        crops.append(NamedImage(f"{stem}-crop{i}", kind, crop))
    return crops


def _document(rng: np.random.Generator, index: int) -> NamedImage:
    paper = tuple(int(v) for v in rng.integers(225, 256, size=3))
    image = Image.new("RGB", (_SIZE * 3 // 4 * 2, _SIZE * 2), paper)
    draw = ImageDraw.Draw(image)
    y = int(rng.integers(8, 30))
    size = int(rng.integers(9, 22))
    while y < image.height - size:
        words = rng.choice(_WORDS, size=int(rng.integers(3, 14)))
        ink = tuple(int(v) for v in rng.integers(0, 90, size=3))
        draw.text((int(rng.integers(8, 30)), y), " ".join(words), fill=ink, font_size=size)
        y += int(size * rng.uniform(1.3, 2.2))
    return NamedImage(f"document-{index}", "document", image)


def _solid(rng: np.random.Generator, index: int) -> NamedImage:
    red, green, blue = (int(v) for v in rng.integers(0, 256, size=3))
    colour = _SKIN[index] if index < len(_SKIN) else (red, green, blue)
    return NamedImage(f"solid-{index}", "solid", Image.new("RGB", (_SIZE, _SIZE), colour))


def _noise(rng: np.random.Generator, index: int) -> NamedImage:
    if index % 2:
        pixels = rng.integers(0, 256, size=(_SIZE, _SIZE, 3))
    else:
        pixels = np.clip(rng.normal(128, rng.uniform(10, 60), size=(_SIZE, _SIZE, 3)), 0, 255)
    return NamedImage(f"noise-{index}", "noise", Image.fromarray(pixels.astype(np.uint8)))


def _gradient(rng: np.random.Generator, index: int) -> NamedImage:
    start, end = rng.integers(0, 256, size=(2, 3)).astype(np.float64)
    y, x = np.mgrid[0:_SIZE, 0:_SIZE] / (_SIZE - 1)
    if index % 2:
        t = np.clip(np.hypot(x - 0.5, y - 0.5) * 1.4, 0, 1)  # radial
    else:
        angle = rng.uniform(0, np.pi)
        t = (x * np.cos(angle) + y * np.sin(angle) + 1) / 3
    pixels = start + (end - start) * t[..., None]
    return NamedImage(f"gradient-{index}", "gradient", Image.fromarray(pixels.astype(np.uint8)))


def _shapes(rng: np.random.Generator, index: int) -> NamedImage:
    background = tuple(int(v) for v in rng.integers(0, 256, size=3))
    image = Image.new("RGB", (_SIZE, _SIZE), background)
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(3, 12))):
        box = sorted(rng.integers(0, _SIZE, size=2)), sorted(rng.integers(0, _SIZE, size=2))
        xy = (int(box[0][0]), int(box[1][0]), int(box[0][1]) + 1, int(box[1][1]) + 1)
        fill = tuple(int(v) for v in rng.integers(0, 256, size=3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(xy, fill=fill)
    return NamedImage(f"shapes-{index}", "shapes", image)


def non_dermoscopy_images(
    screenshots: Sequence[Path] = (), seed: int = 18, per_kind: int = 12
) -> list[NamedImage]:
    """The set, in a fixed order: photos, screenshots, documents, solids, noise, gradients,
    shapes (``per_kind`` generated images of each generated kind)."""
    rng = np.random.default_rng(seed)
    images = _photo_crops(rng, per_kind)
    for path in sorted(screenshots):
        with Image.open(path) as shot:
            screen = shot.convert("RGB")
        images.append(NamedImage(f"screenshot-{path.stem}", "screenshot", screen))
        images.extend(_crops(screen, f"screenshot-{path.stem}", "screenshot", rng, 2))
    for make in (_document, _solid, _noise, _gradient, _shapes):
        images.extend(make(rng, i) for i in range(per_kind))
    return images


def halves(images: Sequence[NamedImage]) -> tuple[list[NamedImage], list[NamedImage]]:
    """``(choice, report)``: within each kind, images alternate between the two halves."""
    seen: dict[str, int] = {}
    choice: list[NamedImage] = []
    report: list[NamedImage] = []
    for image in images:
        position = seen.get(image.kind, 0)
        seen[image.kind] = position + 1
        (choice if position % 2 == 0 else report).append(image)
    return choice, report
