"""Synthetic, learnable lesion-like images for tests and benchmarks.

Each class has its own structure, loosely after its dermoscopic description: nevi are round and
regular with a pigment network; melanomas are asymmetric with a ragged border and blue-grey, black
and white areas; dermatofibromas have a pale centre and a soft edge; vascular lesions hold
red-purple lobules; BCCs thin red vessels; SCCs a white keratin centre ringed by dotted vessels;
AKs a scaly, soft-edged surface; BKLs milia-like cysts inside a sharp border.

Nothing global gives the class away: skin tone, the lesion's mean colour, its area, position and
orientation are drawn from one distribution for every class, and each pattern is re-centred so that
the lesion's mean colour is the drawn one. Mean brightness, mean of each channel and lesion area
therefore score about chance for every class (``tests/data/test_synthetic.py`` checks it); a CNN
has to learn shape, texture and colour pattern, which a small one does within a minute on a CPU.

Patients hold several images (about 3 on average, of one or two lesions), so grouped splits have
something to group. Everything is deterministic for a given seed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from dermcad.data.index import make_summary, write_index, write_summary
from dermcad.taxonomy import CLASSES, CLASSES_9, TARGET_CLASS

Array = np.ndarray


@dataclass(frozen=True)
class LesionStyle:
    """How one class is drawn: border irregularity and softness, and the structure inside."""

    irregularity: float  # amplitude of the border's harmonics
    softness: float  # border blur, in fraction of the radius
    pattern: str


STYLES: dict[str, LesionStyle] = {
    "AK": LesionStyle(0.08, 0.25, "scales"),
    "BCC": LesionStyle(0.06, 0.12, "vessels"),
    "BKL": LesionStyle(0.05, 0.04, "cysts"),
    "DF": LesionStyle(0.03, 0.25, "pale_centre"),
    "SCC": LesionStyle(0.10, 0.10, "keratin"),
    "VASC": LesionStyle(0.04, 0.06, "lobules"),
    "melanoma": LesionStyle(0.20, 0.05, "multicolour"),
    "nevus": LesionStyle(0.02, 0.10, "network"),
    "unknown": LesionStyle(0.10, 0.15, "none"),
}

# Every class draws its mean colour as a random mix of these (brown, pink, dark brown, tan).
_PALETTE = np.array(
    [[0.55, 0.36, 0.25], [0.78, 0.46, 0.44], [0.34, 0.21, 0.15], [0.62, 0.50, 0.36]]
)
_AREA = (0.12, 0.36)  # lesion area, fraction of the image, for every class

# Melanoma (the target) and nevus are common, the rest rarer, as in ISIC data.
_WEIGHTS: dict[str, float] = {"melanoma": 3.0, "nevus": 3.0}

_SITES = ("back", "lower extremity", "upper extremity", "trunk", "face", "abdomen")


def class_counts_for(n_images: int, classes: Sequence[str]) -> dict[str, int]:
    """Images per class: every class at least once, melanoma and nevus three times as common."""
    if n_images < len(classes):
        raise ValueError(f"need at least {len(classes)} images, one per class, not {n_images}")
    weights = np.array([_WEIGHTS.get(c, 1.0) for c in classes])
    spare = n_images - len(classes)
    raw = weights / weights.sum() * spare
    counts = np.floor(raw).astype(int)
    for i in np.argsort(-(raw - counts), kind="stable")[: spare - int(counts.sum())]:
        counts[i] += 1
    return {c: int(k) + 1 for c, k in zip(classes, counts, strict=True)}


def _lesion_mask(
    dist: Array, border: Array, style: LesionStyle, area: float
) -> tuple[Array, float]:
    """A soft mask of ``area`` pixels (whatever the border's shape) and its mean radius."""
    radius = 0.5
    for _ in range(3):
        soft = max(style.softness * radius, 3.0 / dist.shape[0])  # >= 1.5 pixels
        mask = 1.0 / (1.0 + np.exp(np.clip((dist - radius * border) / soft, -50.0, 50.0)))
        radius *= float(np.sqrt(area / mask.sum()))
    return mask, radius


def render_lesion(label: str, size: int, rng: np.random.Generator) -> Array:
    """One ``size`` x ``size`` RGB uint8 image of a lesion of class ``label``."""
    style = STYLES[label]
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) / (size / 2.0) - 1.0
    skin = np.array([0.93, 0.76, 0.64]) * rng.uniform(0.8, 1.05) + rng.normal(0, 0.02, 3)
    base = rng.dirichlet(np.ones(len(_PALETTE))) @ _PALETTE + rng.normal(0, 0.03, 3)
    cx, cy = rng.uniform(-0.12, 0.12, 2)
    dx, dy = xx - cx, yy - cy
    theta, dist = np.arctan2(dy, dx), np.hypot(dx, dy)
    border = np.ones_like(theta)
    for k in (2, 3, 5, 7):
        phase = rng.uniform(0, 2 * np.pi)
        border += style.irregularity * rng.uniform(0.3, 1.0) * np.sin(k * theta + phase)
    mask, radius = _lesion_mask(dist, border, style, rng.uniform(*_AREA) * size * size)
    angle = rng.uniform(0, np.pi)
    u = (dx * np.cos(angle) + dy * np.sin(angle)) / radius
    v = (dy * np.cos(angle) - dx * np.sin(angle)) / radius
    delta = np.zeros((size, size, 3))
    _PATTERNS[style.pattern](
        delta, base, _Frame(u, v, dist / np.maximum(radius * border, 1e-3)), rng
    )
    # Re-centre: the pattern moves no channel's mean, so the class is in its structure alone.
    delta -= np.tensordot(mask / mask.sum(), delta, axes=([0, 1], [0, 1]))
    image = skin * (1 - mask[..., None]) + (base + delta) * mask[..., None]
    image += rng.normal(0, 0.02, image.shape)
    pixels: Array = (np.clip(image, 0, 1) * 255).astype(np.uint8)
    return pixels


@dataclass(frozen=True)
class _Frame:
    """Lesion coordinates: ``u``, ``v`` rotated and in lesion radii, ``rel`` 1 on the border."""

    u: Array
    v: Array
    rel: Array


def _paint(delta: Array, base: Array, tint: tuple[float, float, float], amount: Array) -> None:
    """Move the lesion towards ``tint`` by ``amount`` (0..1 per pixel), in place."""
    delta += (np.asarray(tint) - base - delta) * amount[..., None]


def _blobs(f: _Frame, rng: np.random.Generator, n: int, spread: float, width: float) -> Array:
    out = np.zeros_like(f.u)
    for _ in range(n):
        px, py = rng.uniform(-spread, spread, 2)
        out = np.maximum(out, np.exp(-((f.u - px) ** 2 + (f.v - py) ** 2) / (2 * width**2)))
    return out


def _network(delta: Array, base: Array, f: _Frame, rng: np.random.Generator) -> None:
    period = rng.uniform(0.22, 0.28)
    lines = np.maximum(np.cos(np.pi * f.u / period) ** 8, np.cos(np.pi * f.v / period) ** 8)
    _paint(delta, base, tuple(base * 0.55), lines * 0.9)


def _multicolour(delta: Array, base: Array, f: _Frame, rng: np.random.Generator) -> None:
    _paint(delta, base, (0.42, 0.48, 0.62), _blobs(f, rng, 2, 0.5, 0.22) * 0.8)
    _paint(delta, base, (0.08, 0.05, 0.05), _blobs(f, rng, 3, 0.6, 0.12) * 0.7)
    _paint(delta, base, (0.85, 0.80, 0.78), _blobs(f, rng, 1, 0.5, 0.15) * 0.6)


def _cysts(delta: Array, base: Array, f: _Frame, rng: np.random.Generator) -> None:
    _paint(delta, base, (0.96, 0.93, 0.85), _blobs(f, rng, 8, 0.7, 0.06))


def _pale_centre(delta: Array, base: Array, f: _Frame, rng: np.random.Generator) -> None:
    _paint(delta, base, (0.93, 0.87, 0.82), np.exp(-(f.rel**2) / 0.12))


def _lobules(delta: Array, base: Array, f: _Frame, rng: np.random.Generator) -> None:
    _paint(delta, base, (0.50, 0.05, 0.22), _blobs(f, rng, 5, 0.55, 0.13))


def _vessels(delta: Array, base: Array, f: _Frame, rng: np.random.Generator) -> None:
    stripes = np.abs(np.sin(np.pi * f.u / rng.uniform(0.3, 0.4))) > 0.9
    _paint(delta, base, (0.80, 0.10, 0.12), stripes * 0.7)


def _keratin(delta: Array, base: Array, f: _Frame, rng: np.random.Generator) -> None:
    _paint(delta, base, (0.97, 0.95, 0.90), np.exp(-(f.rel**2) / 0.08))
    _paint(delta, base, (0.80, 0.10, 0.12), _blobs(f, rng, 10, 0.8, 0.04) * 0.9)


def _scales(delta: Array, base: Array, f: _Frame, rng: np.random.Generator) -> None:
    half = (f.u.shape[0] + 1) // 2  # 2-pixel flakes
    flakes = rng.uniform(-0.2, 0.2, (half, half)).repeat(2, 0).repeat(2, 1)
    delta += flakes[: f.u.shape[0], : f.u.shape[1], None]


def _none(delta: Array, base: Array, f: _Frame, rng: np.random.Generator) -> None:
    return None


_PATTERNS: dict[str, Callable[[Array, Array, _Frame, np.random.Generator], None]] = {
    "network": _network,
    "multicolour": _multicolour,
    "cysts": _cysts,
    "pale_centre": _pale_centre,
    "lobules": _lobules,
    "vessels": _vessels,
    "keratin": _keratin,
    "scales": _scales,
    "none": _none,
}


def _patient_table(
    labels: list[str], rng: np.random.Generator
) -> tuple[list[str], list[str], list[str], list[float]]:
    """Patient and lesion ids, sex and age for images already sorted by class."""
    patients: list[str] = []
    lesions: list[str] = []
    sexes: list[str] = []
    ages: list[float] = []
    start, patient, lesion = 0, 0, 0
    while start < len(labels):
        n = int(rng.integers(2, 5))  # 2..4 images, mean 3
        sex = str(rng.choice(["male", "female"]))
        age = float(rng.integers(4, 18) * 5)
        for j in range(start, min(start + n, len(labels))):
            if j > start and rng.uniform() < 0.4:
                lesion += 1
            patients.append(f"SYNP_{patient:05d}")
            lesions.append(f"SYNL_{lesion:05d}")
            sexes.append(sex)
            ages.append(age)
        start, patient, lesion = start + n, patient + 1, lesion + 1
    return patients, lesions, sexes, ages


def make_synthetic_frame(
    out_dir: Path, n_images: int, *, seed: int = 0, classes: Sequence[str] = CLASSES
) -> pd.DataFrame:
    """The index rows of a synthetic dataset (no images written)."""
    unknown = [c for c in classes if c not in CLASSES_9]
    if unknown:
        raise ValueError(f"unknown class name(s): {', '.join(unknown)}")
    rng = np.random.default_rng(seed)
    counts = class_counts_for(n_images, classes)
    labels = [c for c in classes for _ in range(counts[c])]
    patients, lesions, sexes, ages = _patient_table(labels, rng)
    order = rng.permutation(len(labels))
    ids = [f"SYN_{i:07d}" for i in range(len(labels))]
    frame = pd.DataFrame(
        {
            "image_id": ids,
            "path": [str(out_dir / "images" / f"{i}.jpg") for i in ids],
            "label": [labels[k] for k in order],
            "label_idx": [CLASSES_9.index(labels[k]) for k in order],
            "source": "synthetic",
            "patient_id": [patients[k] for k in order],
            "lesion_id": [lesions[k] for k in order],
            "sex": [sexes[k] for k in order],
            "age": [ages[k] for k in order],
            "site": [str(s) for s in rng.choice(_SITES, len(labels))],
            "diagnosis": [f"synthetic {labels[k]}" for k in order],
        }
    )
    return frame


def make_synthetic_dataset(
    out_dir: Path,
    n_images: int = 400,
    *,
    image_size: int = 64,
    seed: int = 0,
    classes: Sequence[str] = CLASSES,
) -> Path:
    """Write ``n_images`` synthetic JPEGs under ``out_dir/images`` and ``out_dir/index.csv``.

    Every class in ``classes`` is present; melanoma and nevus are three times as common as the
    others; patients hold about three images each. Returns the index CSV's path.
    """
    out_dir = Path(out_dir).resolve()
    frame = make_synthetic_frame(out_dir, n_images, seed=seed, classes=classes)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    for row, (path, label) in enumerate(zip(frame["path"], frame["label"], strict=True)):
        rng = np.random.default_rng([seed, row])
        Image.fromarray(render_lesion(label, image_size, rng)).save(path, quality=92)
    index_path = write_index(frame, out_dir / "index.csv")
    summary = make_summary(frame, {}, source="synthetic", details={"seed": seed})
    summary["target_class"] = TARGET_CLASS
    write_summary(summary, index_path)
    return index_path
