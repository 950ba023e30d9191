"""The synthetic lesion generator: every class, patients, determinism, learnability."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dermcad.data.index import read_index
from dermcad.data.splits import split_holdout, subset
from dermcad.data.synthetic import class_counts_for, make_synthetic_dataset
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


def test_classes_are_learnable_by_a_nearest_centroid(synthetic_index: Path) -> None:
    """A far weaker learner than a CNN separates the classes on held-out patients."""
    frame = read_index(synthetic_index)
    split = split_holdout(frame, (0.7, 0.3), seed=0)
    train, test = subset(frame, split, "train"), subset(frame, split, "val")

    def pixels(paths: list[str]) -> np.ndarray:
        return np.stack(
            [np.asarray(Image.open(p).resize((16, 16)), dtype=float).ravel() / 255 for p in paths]
        )

    x_train, x_test = pixels(train["path"].tolist()), pixels(test["path"].tolist())
    names = sorted(set(train["label"]))
    centroids = np.stack([x_train[(train["label"] == n).to_numpy()].mean(axis=0) for n in names])
    nearest = ((x_test[:, None, :] - centroids[None]) ** 2).sum(axis=2).argmin(axis=1)
    accuracy = (np.array(names)[nearest] == test["label"].to_numpy()).mean()
    assert accuracy > 0.6  # chance is below 0.25
