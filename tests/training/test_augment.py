from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dermcad.augment import Augmenter, write_preview
from dermcad.errors import UserError


def _image() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)


@pytest.mark.parametrize("name", ["none", "light", "thesis", "transfer"])
def test_pipelines_return_rgb_uint8(name: str) -> None:
    out = Augmenter(name, 48)(_image())
    assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3
    if name in ("thesis", "transfer"):  # they resize: their cut-out is relative to the input
        assert out.shape == (48, 48, 3)


def test_transfer_pipeline_degrades_detail_more_than_the_thesis_one() -> None:
    """Downscale and JPEG compression: on a fine checkerboard, the seeded transfer samples keep
    less of the finest detail on average than the thesis ones."""
    board = (np.indices((96, 96)).sum(axis=0) % 2 * 255).astype(np.uint8)
    image = np.repeat(board[:, :, None], 3, axis=2)

    def detail(name: str) -> float:
        augmenter = Augmenter(name, 96)
        augmenter.seed(3)
        samples = [augmenter(image).astype(np.float64).mean(axis=2) for _ in range(40)]
        return float(np.mean([np.abs(np.diff(s, axis=1)).mean() for s in samples]))

    assert detail("transfer") < 0.85 * detail("thesis")


def test_seeded_pipelines_repeat_and_differ() -> None:
    a, b = Augmenter("thesis", 48), Augmenter("thesis", 48)
    a.seed(5)
    b.seed(5)
    first = [a(_image()) for _ in range(3)]
    assert all(np.array_equal(x, b(_image())) for x in first)
    assert not np.array_equal(first[0], first[1])
    assert np.array_equal(Augmenter("none", 48)(_image()), _image())


def test_unknown_pipeline_is_an_error() -> None:
    with pytest.raises(UserError, match="unknown augmentation"):
        Augmenter("heavy", 48)


def test_preview_grid(tmp_path: Path) -> None:
    paths = []
    for i in range(2):
        path = tmp_path / f"{i}.png"
        Image.fromarray(_image()).save(path)
        paths.append(path)
    out = write_preview(paths, tmp_path / "grid.png", "light", 32, copies=3)
    with Image.open(out) as grid:
        assert grid.size == (4 * 32, 2 * 32)
