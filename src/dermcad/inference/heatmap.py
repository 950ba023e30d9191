"""Class-activation maps (Zhou et al. 2016) in numpy, drawn as a PNG overlay.

For a global-average-pooled CNN with a linear classifier, ``logit_c = W_c . mean_ij f_ij + b_c``,
so ``W_c . f_ij`` says how much location ``ij`` pushed the image towards class ``c``.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from PIL import Image

# A small perceptual colour ramp (dark blue -> cyan -> yellow -> red), interpolated.
_RAMP = np.array(
    [[0, 0, 128], [0, 128, 255], [0, 255, 255], [255, 255, 0], [255, 128, 0], [200, 0, 0]],
    dtype=np.float32,
)


def class_activation_maps(
    features: np.ndarray, weight: np.ndarray, classes: Sequence[int]
) -> list[np.ndarray]:
    """One map ``[h, w]`` in [0, 1] per image, for the class given for that image."""
    if features.ndim != 4 or features.shape[1] != weight.shape[1]:
        raise ValueError(f"features {features.shape} do not match classifier {weight.shape}")
    maps: list[np.ndarray] = []
    for feats, cls in zip(features, classes, strict=True):
        cam = np.tensordot(weight[cls], feats, axes=(0, 0)).astype(np.float32)
        cam -= cam.min()
        peak = float(cam.max())
        maps.append(cam / peak if peak > 0 else np.zeros_like(cam))
    return maps


def colorize(cam: np.ndarray) -> np.ndarray:
    """``[h, w]`` in [0, 1] -> ``[h, w, 3]`` uint8 through the colour ramp."""
    position = np.clip(cam, 0.0, 1.0) * (len(_RAMP) - 1)
    low = np.floor(position).astype(int)
    high = np.minimum(low + 1, len(_RAMP) - 1)
    frac = (position - low)[..., None]
    rgb: np.ndarray = (_RAMP[low] * (1 - frac) + _RAMP[high] * frac).astype(np.uint8)
    return rgb


def overlay_png(image: Image.Image, cam: np.ndarray, alpha: float = 0.45) -> bytes:
    """The map upsampled (bilinear) to the image, blended over it, encoded as PNG."""
    base = image.convert("RGB")
    upsampled = Image.fromarray(np.ascontiguousarray(cam, dtype=np.float32)).resize(
        base.size, Image.Resampling.BILINEAR
    )
    heat = colorize(np.asarray(upsampled))
    blended = (1 - alpha) * np.asarray(base, dtype=np.float32) + alpha * heat
    out = io.BytesIO()
    Image.fromarray(blended.clip(0, 255).astype(np.uint8)).save(out, format="PNG")
    return out.getvalue()
