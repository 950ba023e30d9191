"""Class-activation maps: W_c . f_ij, normalised; drawn over the image as PNG."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from dermcad.inference.heatmap import class_activation_maps, colorize, overlay_png


def test_cam_is_the_class_weighted_sum_of_feature_channels() -> None:
    rng = np.random.default_rng(0)
    features = rng.normal(size=(2, 5, 4, 3)).astype(np.float32)
    weight = rng.normal(size=(8, 5)).astype(np.float32)
    maps = class_activation_maps(features, weight, [2, 7])
    for n, cls in enumerate([2, 7]):
        raw = np.einsum("f,fhw->hw", weight[cls], features[n])
        expected = (raw - raw.min()) / (raw.max() - raw.min())
        np.testing.assert_allclose(maps[n], expected, atol=1e-6)


def test_cam_peaks_where_the_class_evidence_is() -> None:
    features = np.zeros((1, 2, 5, 5), dtype=np.float32)
    features[0, 1, 3, 1] = 4.0  # channel 1 fires at (3, 1)
    weight = np.array([[1.0, 0.0], [0.0, 2.0]], dtype=np.float32)
    [cam] = class_activation_maps(features, weight, [1])
    assert np.unravel_index(np.argmax(cam), cam.shape) == (3, 1)
    assert cam.max() == 1.0 and cam.min() == 0.0
    [flat] = class_activation_maps(features, weight, [0])  # no evidence at all: zeros
    assert not flat.any()


def test_cam_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="do not match"):
        class_activation_maps(np.zeros((1, 3, 2, 2)), np.zeros((8, 4)), [0])


def test_colorize_maps_the_ends_of_the_ramp() -> None:
    rgb = colorize(np.array([[0.0, 1.0]]))
    assert rgb.dtype == np.uint8 and rgb.shape == (1, 2, 3)
    assert tuple(rgb[0, 0]) == (0, 0, 128) and tuple(rgb[0, 1]) == (200, 0, 0)


def test_overlay_is_a_png_of_the_image_size() -> None:
    image = Image.new("RGB", (37, 23), (10, 200, 10))
    cam = np.zeros((4, 4), dtype=np.float32)
    cam[0, 0] = 1.0
    data = overlay_png(image, cam, alpha=0.5)
    with Image.open(io.BytesIO(data)) as png:
        assert png.format == "PNG" and png.size == (37, 23)
        pixels = np.asarray(png.convert("RGB"), dtype=int)
    # the hot corner is redder than the cold one; the blend keeps some of the green image
    assert pixels[0, 0, 0] > pixels[-1, -1, 0]
    assert pixels[-1, -1, 1] >= 100 // 2
