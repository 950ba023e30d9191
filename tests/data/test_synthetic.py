"""The synthetic lesion generator: every class, patients, determinism, no global shortcut."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dermcad.data.index import read_index
from dermcad.data.synthetic import class_counts_for, make_synthetic_dataset
from dermcad.evaluation.metrics import roc_auc
from dermcad.taxonomy import CLASSES, CLASSES_9


def test_every_class_present_and_melanoma_well_represented(synthetic_index: Path) -> None:
    frame = read_index(synthetic_index)
    counts = frame["label"].value_counts()
    assert len(frame) == 240
    assert set(counts.index) == set(CLASSES)
    assert counts["melanoma"] >= 0.15 * len(frame)
    assert (frame["label_idx"] == frame["label"].map(CLASSES_9.index)).all()


def test_patients_hold_about_three_images(synthetic_index: Path) -> None:
    frame = read_index(synthetic_index)
    per_patient = frame.groupby("patient_id").size()
    assert 2.5 <= per_patient.mean() <= 3.5
    assert per_patient.max() > 1
    assert frame.groupby("lesion_id")["patient_id"].nunique().max() == 1


def test_images_are_rgb_jpegs_of_the_requested_size(synthetic_index: Path) -> None:
    frame = read_index(synthetic_index)
    for path in frame["path"].head(5):
        with Image.open(path) as image:
            assert (image.format, image.mode, image.size) == ("JPEG", "RGB", (64, 64))


def _digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix in (".jpg", ".csv"):
            digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()


def test_same_seed_same_dataset(tmp_path: Path) -> None:
    make_synthetic_dataset(tmp_path / "a", 40, image_size=32, seed=5)
    make_synthetic_dataset(tmp_path / "b", 40, image_size=32, seed=5)
    make_synthetic_dataset(tmp_path / "c", 40, image_size=32, seed=6)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")


def test_class_counts_cover_every_class() -> None:
    counts = class_counts_for(8, CLASSES)
    assert counts == dict.fromkeys(CLASSES, 1)
    counts = class_counts_for(101, CLASSES)
    assert sum(counts.values()) == 101
    assert counts["melanoma"] > counts["DF"]
    with pytest.raises(ValueError, match="at least 8"):
        class_counts_for(5, CLASSES)


def test_nine_classes_and_subsets(tmp_path: Path) -> None:
    frame = read_index(make_synthetic_dataset(tmp_path, 30, image_size=24, classes=CLASSES_9))
    assert set(frame["label"]) == set(CLASSES_9)
    with pytest.raises(ValueError, match="unknown class"):
        make_synthetic_dataset(tmp_path / "x", 30, classes=("melanoma", "freckle"))


def _global_statistics(path: str) -> list[float]:
    """Mean brightness, mean of each channel and lesion area (pixels far from the corners' skin)."""
    image = np.asarray(Image.open(path), dtype=float) / 255
    corners = np.concatenate(
        [
            image[a, b].reshape(-1, 3)
            for a in (np.s_[:6], np.s_[-6:])
            for b in (np.s_[:6], np.s_[-6:])
        ]
    )
    lesion = np.linalg.norm(image - np.median(corners, axis=0), axis=2) > 0.15
    return [image.mean(), *image.reshape(-1, 3).mean(axis=0), lesion.mean()]


def test_no_global_statistic_gives_melanoma_away(synthetic_index: Path) -> None:
    """The shortcut is gone: a CNN must learn the lesion's structure, not its darkness or size."""
    frame = read_index(synthetic_index)
    stats = np.array([_global_statistics(p) for p in frame["path"]])
    melanoma = (frame["label"] == "melanoma").to_numpy()
    assert stats[:, 4].min() > 0.03  # the lesion is found in every image
    for name, column in zip(("brightness", "red", "green", "blue", "area"), stats.T, strict=True):
        auc = roc_auc(melanoma, column)
        assert max(auc, 1 - auc) <= 0.7, (name, auc)  # darker or lighter, larger or smaller
