"""Training-only augmentation: named Albumentations (2.x) pipelines.

A pipeline takes the decoded RGB image (HWC uint8, from
:func:`dermcad.inference.preprocess.decode_image`) and returns an augmented HWC uint8 image;
:func:`dermcad.inference.preprocess.to_array` then does the one resize and normalisation. Only the
``thesis`` pipeline resizes itself, because its cut-out is sized relative to the model's input (as
in the thesis and the SIIM-ISIC 2020 winning solution).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dermcad.atomic import atomic_writer
from dermcad.errors import UserError

PIPELINES: tuple[str, ...] = ("none", "thesis", "light", "transfer")


def _cv2_interpolation(name: str) -> int:
    import cv2

    return {"bicubic": cv2.INTER_CUBIC, "nearest": cv2.INTER_NEAREST}.get(name, cv2.INTER_LINEAR)


def thesis_transforms(img_size: int, interpolation: str = "bilinear") -> list[Any]:
    """The thesis' (= the winning solution's) pipeline, in Albumentations 2.x names.

    1.x -> 2.x: RandomBrightness + RandomContrast -> RandomBrightnessContrast; GaussNoise
    ``var_limit=(5, 30)`` (pixel variance) -> ``std_range`` as a fraction of 255; ShiftScaleRotate
    -> Affine; Cutout -> CoarseDropout with one hole of 37.5% of the side. OpticalDistortion's
    ``distort_limit`` changed meaning in 2.x (camera model): 0.3 is the documented strong setting.
    """
    import albumentations as A  # noqa: N812
    import cv2

    hole = int(img_size * 0.375)
    noise_std = (float(np.sqrt(5.0) / 255.0), float(np.sqrt(30.0) / 255.0))
    return [
        A.Transpose(p=0.5),
        A.VerticalFlip(p=0.5),
        A.HorizontalFlip(p=0.5),
        A.RandomBrightnessContrast(brightness_limit=0.2, contrast_limit=0.2, p=0.75),
        A.OneOf(
            [
                A.MotionBlur(blur_limit=(3, 5)),
                A.MedianBlur(blur_limit=(3, 5)),
                A.GaussianBlur(blur_limit=(3, 5)),
                A.GaussNoise(std_range=noise_std),
            ],
            p=0.7,
        ),
        A.OneOf(
            [
                A.OpticalDistortion(distort_limit=0.3),
                A.GridDistortion(num_steps=5, distort_limit=(-0.3, 0.3)),
                A.ElasticTransform(alpha=3, sigma=50),
            ],
            p=0.7,
        ),
        A.CLAHE(clip_limit=4.0, p=0.7),
        A.HueSaturationValue(hue_shift_limit=10, sat_shift_limit=20, val_shift_limit=10, p=0.5),
        A.Affine(
            translate_percent=(-0.1, 0.1),
            scale=(0.9, 1.1),
            rotate=(-15, 15),
            border_mode=cv2.BORDER_CONSTANT,
            p=0.85,
        ),
        A.Resize(img_size, img_size, interpolation=_cv2_interpolation(interpolation)),
        A.CoarseDropout(
            num_holes_range=(1, 1),
            hole_height_range=(hole, hole),
            hole_width_range=(hole, hole),
            fill=0,
            p=0.7,
        ),
    ]


def transfer_transforms(img_size: int, interpolation: str = "bilinear") -> list[Any]:
    """The thesis pipeline plus what separates one collection from another (issue: a model that
    holds up beyond the clinic it learnt from): a wider scale range (close-ups and wide fields),
    loss of resolution (a 200x150 or 84x84 training image against a full-size upload; Downscale
    0.3-0.9), JPEG quality 40-95, and camera colour (ColorJitter), before the resize and cut-out.
    """
    import albumentations as A  # noqa: N812
    import cv2

    base = thesis_transforms(img_size, interpolation)
    *geometry_and_colour, resize, cutout = base
    return [
        *geometry_and_colour,
        A.Affine(scale=(0.8, 1.25), border_mode=cv2.BORDER_REFLECT_101, p=0.5),
        A.Downscale(
            scale_range=(0.3, 0.9),
            interpolation_pair={"downscale": cv2.INTER_AREA, "upscale": cv2.INTER_LINEAR},
            p=0.4,
        ),
        A.ImageCompression(compression_type="jpeg", quality_range=(40, 95), p=0.5),
        A.ColorJitter(brightness=0.15, contrast=0.15, saturation=0.2, hue=0.03, p=0.5),
        resize,
        cutout,
    ]


def light_transforms() -> list[Any]:
    """Dihedral flips, a mild rotation/scale and mild colour jitter: cheap and label-safe."""
    import albumentations as A  # noqa: N812
    import cv2

    return [
        A.Transpose(p=0.5),
        A.VerticalFlip(p=0.5),
        A.HorizontalFlip(p=0.5),
        A.Affine(
            scale=(0.9, 1.15),
            rotate=(-30, 30),
            translate_percent=(-0.05, 0.05),
            border_mode=cv2.BORDER_REFLECT_101,
            p=0.7,
        ),
        A.RandomBrightnessContrast(brightness_limit=0.15, contrast_limit=0.15, p=0.5),
        A.HueSaturationValue(hue_shift_limit=5, sat_shift_limit=10, val_shift_limit=5, p=0.3),
    ]


class Augmenter:
    """A picklable pipeline (DataLoader workers) with a re-seedable random state."""

    def __init__(self, name: str, img_size: int, interpolation: str = "bilinear") -> None:
        if name not in PIPELINES:
            raise UserError(f"unknown augmentation {name!r}; choose one of {', '.join(PIPELINES)}")
        self.name = name
        self.img_size = img_size
        self.interpolation = interpolation
        self._compose: Any = None

    def _pipeline(self) -> Any:
        if self._compose is None:
            import albumentations as A  # noqa: N812

            if self.name == "thesis":
                transforms = thesis_transforms(self.img_size, self.interpolation)
            elif self.name == "transfer":
                transforms = transfer_transforms(self.img_size, self.interpolation)
            else:
                transforms = light_transforms()
            self._compose = A.Compose(transforms)
        return self._compose

    def seed(self, seed: int) -> None:
        """Give this copy (one per DataLoader worker) its own reproducible random stream."""
        if self.name != "none":
            self._pipeline().set_random_seed(seed)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        if self.name == "none":
            return image
        return np.asarray(self._pipeline()(image=image)["image"])


def preview_grid(
    images: Sequence[np.ndarray], augmenter: Augmenter, copies: int, tile: int
) -> np.ndarray:
    """A grid (uint8 HWC): one row per image, the original then ``copies`` augmented versions."""
    from PIL import Image

    rows = []
    for image in images:
        versions = [image] + [augmenter(image) for _ in range(copies)]
        cells = [
            np.asarray(Image.fromarray(v).resize((tile, tile), Image.Resampling.BILINEAR))
            for v in versions
        ]
        rows.append(np.concatenate(cells, axis=1))
    return np.concatenate(rows, axis=0)


def write_preview(
    paths: Sequence[Path], out: Path, name: str, img_size: int, copies: int = 7, seed: int = 0
) -> Path:
    """Write a PNG grid of ``copies`` augmented samples of each image in ``paths``."""
    from PIL import Image

    from dermcad.inference.preprocess import decode_image

    if not paths:
        raise UserError("augment-preview needs at least one image")
    augmenter = Augmenter(name, img_size)
    augmenter.seed(seed)
    for path in paths:
        if not Path(path).is_file():
            raise UserError(f"{path}: no such image file")
    images = [np.asarray(decode_image(p, draft_size=img_size)) for p in paths]
    grid = preview_grid(images, augmenter, copies, tile=min(img_size, 192))
    with atomic_writer(out) as handle:
        Image.fromarray(grid).save(handle, format="PNG")
    return out
