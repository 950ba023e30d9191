"""Synthetic, learnable lesion-like images for tests and benchmarks.

Each class has its own look, loosely after its dermoscopic description: nevi are round, regular
and evenly brown; melanomas are large, asymmetric, dark and multi-coloured with a ragged border;
dermatofibromas are small with a pale centre; vascular lesions are red-purple lobules; BCCs are
pink with thin red vessels; SCCs are red with a white keratin centre; AKs are pink-red and scaly;
BKLs are tan, mottled and sharply bordered. Skin tone, size, position and rotation vary, so a tiny
CNN has to learn the class from the lesion, which it does within a minute on a CPU.

Patients hold several images (about 3 on average, of one or two lesions), so grouped splits have
something to group. Everything is deterministic for a given seed.
"""

from __future__ import annotations

from collections.abc import Sequence
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
    """How one class is drawn: base colour (RGB 0..1), size, border irregularity and softness."""

    colour: tuple[float, float, float]
    radius: float  # fraction of the image half-size
    irregularity: float  # amplitude of the border's harmonics
    softness: float  # border blur, in fraction of the radius
    feature: str


STYLES: dict[str, LesionStyle] = {
    "AK": LesionStyle((0.80, 0.42, 0.42), 0.50, 0.10, 0.30, "scales"),
    "BCC": LesionStyle((0.86, 0.60, 0.62), 0.48, 0.06, 0.12, "vessels"),
    "BKL": LesionStyle((0.66, 0.50, 0.30), 0.55, 0.05, 0.04, "mottled"),
    "DF": LesionStyle((0.55, 0.36, 0.26), 0.32, 0.03, 0.25, "pale_centre"),
    "SCC": LesionStyle((0.78, 0.30, 0.28), 0.52, 0.14, 0.10, "keratin"),
    "VASC": LesionStyle((0.62, 0.12, 0.30), 0.42, 0.04, 0.06, "lobules"),
    "melanoma": LesionStyle((0.22, 0.12, 0.10), 0.66, 0.24, 0.05, "multicolour"),
    "nevus": LesionStyle((0.50, 0.32, 0.20), 0.40, 0.02, 0.10, "none"),
    "unknown": LesionStyle((0.60, 0.45, 0.40), 0.45, 0.10, 0.15, "none"),
}

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


def render_lesion(label: str, size: int, rng: np.random.Generator) -> Array:
    """One ``size`` x ``size`` RGB uint8 image of a lesion of class ``label``."""
    style = STYLES[label]
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / (size / 2.0) - 1.0
    skin = np.array([0.93, 0.76, 0.64]) * rng.uniform(0.8, 1.05) + rng.normal(0, 0.02, 3)
    cx, cy = rng.uniform(-0.15, 0.15, 2)
    dx, dy = xx - cx, yy - cy
    theta = np.arctan2(dy, dx)
    dist = np.hypot(dx, dy)
    radius = style.radius * rng.uniform(0.85, 1.15)
    border = np.ones_like(theta)
    for k in (2, 3, 5, 7):
        phase = rng.uniform(0, 2 * np.pi)
        border += style.irregularity * rng.uniform(0.3, 1.0) * np.sin(k * theta + phase)
    edge = radius * border
    soft = max(style.softness * radius, 1.5 / size)
    mask = 1.0 / (1.0 + np.exp((dist - edge) / soft))
    colour = np.clip(np.array(style.colour) + rng.normal(0, 0.04, 3), 0, 1)
    lesion = np.broadcast_to(colour, (size, size, 3)).copy()
    _add_feature(style.feature, lesion, dist / np.maximum(edge, 1e-3), dx, dy, rng)
    image = skin * (1 - mask[..., None]) + lesion * mask[..., None]
    image += rng.normal(0, 0.025, image.shape)
    pixels: Array = (np.clip(image, 0, 1) * 255).astype(np.uint8)
    return pixels


def _add_feature(
    feature: str, lesion: Array, rel: Array, dx: Array, dy: Array, rng: np.random.Generator
) -> None:
    """Paint the class's characteristic structure into ``lesion`` (in place)."""
    if feature == "multicolour":
        for tint in ((0.35, 0.40, 0.55), (0.05, 0.03, 0.03), (0.55, 0.35, 0.25)):
            px, py = rng.uniform(-0.3, 0.3, 2)
            blob = np.exp(-((dx - px) ** 2 + (dy - py) ** 2) / rng.uniform(0.02, 0.06))
            lesion += (np.array(tint) - lesion) * blob[..., None] * 0.9
    elif feature == "pale_centre":
        lesion += (np.array([0.92, 0.85, 0.80]) - lesion) * np.exp(-(rel**2) / 0.15)[..., None]
    elif feature == "keratin":
        lesion += (np.array([0.97, 0.95, 0.90]) - lesion) * np.exp(-(rel**2) / 0.08)[..., None]
    elif feature == "lobules":
        for _ in range(4):
            px, py = rng.uniform(-0.35, 0.35, 2)
            blob = np.exp(-((dx - px) ** 2 + (dy - py) ** 2) / 0.01)
            lesion += (np.array([0.35, 0.02, 0.18]) - lesion) * blob[..., None]
    elif feature == "vessels":
        angle = rng.uniform(0, np.pi)
        stripes = np.abs(np.sin(9.0 * (dx * np.cos(angle) + dy * np.sin(angle))))
        lesion += (np.array([0.75, 0.08, 0.10]) - lesion) * (stripes > 0.93)[..., None] * 0.9
    elif feature == "scales":
        lesion += rng.uniform(-0.18, 0.18, lesion.shape[:2])[..., None]
    elif feature == "mottled":
        spots = rng.uniform(0, 1, lesion.shape[:2]) > 0.8
        lesion += (np.array([0.40, 0.28, 0.15]) - lesion) * spots[..., None] * 0.8


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
