from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from dermcad.data.index import read_index
from dermcad.inference.preprocess import PreprocessSpec, preprocess
from dermcad.training.data import (
    ImageCache,
    ImageTable,
    balanced_sample_weights,
    class_weights,
    source_sample_weights,
)
from dermcad.training.loop import Precision


def test_class_weights_hand_computed() -> None:
    labels = [0, 0, 0, 1]  # 4 images, 2 classes present of 3
    inverse = class_weights(labels, 3, "inverse")
    assert inverse is not None
    # N / (C_present * n_c): 4 / (2 * 3), 4 / (2 * 1); the absent class gets 0
    torch.testing.assert_close(inverse, torch.tensor([4 / 6, 2.0, 0.0]))
    sqrt = class_weights(labels, 3, "sqrt-inverse")
    assert sqrt is not None
    torch.testing.assert_close(sqrt, torch.tensor([(4 / 6) ** 0.5, 2**0.5, 0.0]))
    assert class_weights(labels, 3, "none") is None


def test_balanced_weights_give_each_class_equal_mass() -> None:
    labels = [0, 0, 0, 1, 2, 2]
    weights = balanced_sample_weights(labels, 3).numpy()
    mass = [weights[np.asarray(labels) == c].sum() for c in range(3)]
    assert mass == pytest.approx([1.0, 1.0, 1.0])


def test_source_weights_give_each_source_and_class_equal_mass() -> None:
    # HAM10000-like source: 6 images of two classes; ISIC-2017-like: 2 images of one class.
    labels = [7, 7, 7, 7, 6, 6, 6, 2]
    sources = ["ham10000"] * 6 + ["isic2017"] * 2
    by_source = source_sample_weights(labels, sources, balance_classes=False).numpy()
    src = np.asarray(sources)
    assert [by_source[src == s].sum() for s in ("ham10000", "isic2017")] == pytest.approx(
        [0.5, 0.5]
    )
    ham = by_source[src == "ham10000"]
    assert np.allclose(ham, ham[0])  # within a source, classes keep their proportion
    both = source_sample_weights(labels, sources, balance_classes=True).numpy()
    cell = {
        (s, y): both[(src == s) & (np.asarray(labels) == y)].sum()
        for s, y in set(zip(sources, labels, strict=True))
    }
    assert cell == pytest.approx(
        {("ham10000", 7): 0.25, ("ham10000", 6): 0.25, ("isic2017", 6): 0.25, ("isic2017", 2): 0.25}
    )


def test_table_gives_exactly_the_one_preprocessing(synthetic_index: Path, tmp_path: Path) -> None:
    frame = read_index(synthetic_index).head(3)
    spec = PreprocessSpec(img_size=40, interpolation="bicubic")
    for cache in (None, ImageCache(tmp_path / "cache", spec)):
        table = ImageTable(frame, spec, cache=cache)
        for i in range(3):
            expected = preprocess(frame["path"][i], spec)
            np.testing.assert_array_equal(table[i].image.numpy(), expected)
            assert table[i].label == frame["label_idx"][i]
    assert len(list((tmp_path / "cache").rglob("*.npy"))) == 3


def test_augmentation_sees_the_same_image_with_or_without_the_cache(
    synthetic_index: Path, tmp_path: Path
) -> None:
    frame = read_index(synthetic_index).head(2)
    spec = PreprocessSpec(img_size=40)
    seen: dict[str, list[np.ndarray]] = {"off": [], "on": []}

    def recorder(key: str) -> Any:
        def augment(image: np.ndarray) -> np.ndarray:
            seen[key].append(image.copy())
            return image

        return augment

    for key, cache in (("off", None), ("on", ImageCache(tmp_path / "cache", spec))):
        table = ImageTable(frame, spec, augmenter=recorder(key), cache=cache)
        for i in range(2):
            table[i]
    assert seen["off"][0].shape == (40, 40, 3)
    for off, on in zip(seen["off"], seen["on"], strict=True):
        np.testing.assert_array_equal(off, on)


def test_metadata_vector(synthetic_index: Path) -> None:
    frame = read_index(synthetic_index).head(2)
    table = ImageTable(frame, PreprocessSpec(img_size=16), metadata_features=("age", "sex"))
    meta = table[0].meta.numpy()
    assert meta.shape == (4,)
    assert meta[0] == pytest.approx(float(frame["age"][0]) / 90.0)


def test_precision_choice() -> None:
    cpu = torch.device("cpu")
    assert Precision.choose("none", cpu).dtype is None
    assert Precision.choose("auto", cpu).dtype is None
    assert Precision.choose("bf16", cpu).dtype == torch.bfloat16
    with pytest.raises(ValueError, match="CUDA"):
        Precision.choose("fp16", cpu)
