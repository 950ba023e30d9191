"""The one preprocessing function (docs/architecture.md).

Decode (JPEG or PNG, EXIF orientation applied, RGB) -> resize to ``img_size`` x ``img_size`` ->
optional colour constancy (Shades of Gray) -> float32 in [0, 1] normalised with the spec's mean
and std -> CHW. Evaluation, export parity checks,
the CLI, the API and the workers all call :func:`preprocess` (or its two halves,
:func:`decode_image` and :func:`to_array`); training augmentation runs between the two halves, on
training batches only. A ``Resize`` or ``Normalize`` anywhere else is a bug.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from dermcad.units import human_pixels

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)

#: Images above this many pixels are refused before they are decoded (decompression bombs).
DEFAULT_MAX_PIXELS = 64_000_000

Interpolation = Literal["bilinear", "bicubic", "nearest", "lanczos"]
ColorConstancy = Literal["none", "shades_of_gray"]
_PIL_FILTERS: dict[str, Image.Resampling] = {
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "nearest": Image.Resampling.NEAREST,
    "lanczos": Image.Resampling.LANCZOS,
}
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
)


class ImageError(ValueError):
    """An input that is not a usable image. ``status`` is the HTTP status an API should answer."""

    status: int = 422


class UnsupportedImageError(ImageError):
    """Not a JPEG or PNG (judged from the bytes, never from the file name)."""

    status = 415


class ImageTooLargeError(ImageError):
    """More pixels than allowed: refused before decoding."""

    status = 413


class CorruptImageError(ImageError):
    """A JPEG or PNG that cannot be decoded (corrupt or truncated)."""

    status = 422


@dataclass(frozen=True)
class PreprocessSpec:
    """How a model wants its input. Stored in every run directory and model manifest."""

    img_size: int = 256
    resize: Literal["squash"] = "squash"  # both sides to img_size, aspect ratio not kept (thesis)
    interpolation: Interpolation = "bilinear"
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    channel_order: Literal["RGB"] = "RGB"
    layout: Literal["NCHW"] = field(default="NCHW")
    #: Shades of Gray colour constancy (Finlayson & Trezzi 2004; the Minkowski ``p``-norm
    #: illuminant estimate the ISIC 2018/2019 winners used, p = 6), applied after the resize.
    color_constancy: ColorConstancy = "none"
    color_constancy_power: int = 6

    def __post_init__(self) -> None:
        if self.img_size < 8:
            raise ValueError(f"img_size must be at least 8, got {self.img_size}")
        if self.color_constancy not in ("none", "shades_of_gray"):
            raise ValueError(f"unknown color_constancy {self.color_constancy!r}")
        if self.color_constancy_power < 1:
            raise ValueError("color_constancy_power must be at least 1")
        if self.interpolation not in _PIL_FILTERS:
            raise ValueError(f"unknown interpolation {self.interpolation!r}")
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise ValueError("mean and std need three values each, std positive")

    def to_dict(self) -> dict[str, Any]:
        """As stored in run.json and model manifests. The colour-constancy keys are written only
        when it is used, so specs without it read the same as before it existed."""
        data = asdict(self)
        data["mean"], data["std"] = list(self.mean), list(self.std)
        if self.color_constancy == "none":
            del data["color_constancy"], data["color_constancy_power"]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PreprocessSpec:
        values = dict(data)
        for key in ("mean", "std"):
            if key in values:
                values[key] = tuple(float(v) for v in values[key])
        return cls(**values)


def sniff_format(data: bytes) -> str | None:
    """``"JPEG"`` or ``"PNG"`` from the leading bytes, else ``None``."""
    for signature, name in _SIGNATURES:
        if data.startswith(signature):
            return name
    return None


def decode_image(
    source: bytes | Path | str,
    *,
    draft_size: int | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> Image.Image:
    """Decode a JPEG or PNG into an RGB image with its EXIF orientation applied.

    ``draft_size`` lets JPEG decoding skip detail that a resize to that size would drop (libjpeg's
    DCT scaling to 1/2, 1/4 or 1/8, never below ``draft_size`` on either side): a large speed-up on
    full-size dermoscopy photographs. EXIF and other metadata are not carried into the result.
    """
    data = Path(source).read_bytes() if isinstance(source, str | Path) else source
    fmt = sniff_format(data)
    if fmt is None:
        raise UnsupportedImageError("not a JPEG or PNG image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image: Image.Image = Image.open(io.BytesIO(data), formats=[fmt])
            width, height = image.size
            if width * height > max_pixels:
                raise ImageTooLargeError(
                    f"image has {width}x{height} pixels ({human_pixels(width * height)}), "
                    f"more than the limit of {human_pixels(max_pixels)}"
                )
            if width < 1 or height < 1:
                raise CorruptImageError("image has no pixels")
            if draft_size is not None and fmt == "JPEG":
                image.draft("RGB", (draft_size, draft_size))
            image.load()
            image = ImageOps.exif_transpose(image)
    except ImageError:
        raise
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise ImageTooLargeError(f"image too large: {exc}") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise CorruptImageError(f"corrupt or truncated {fmt}: {exc}") from exc
    return _to_rgb(image)


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit grayscale: scale to 8 bits rather than clip.
        array = np.asarray(image, dtype=np.float64)
        peak = max(float(array.max()), 1.0)
        scale = 255.0 / (65535.0 if peak > 255 else 255.0)
        image = Image.fromarray(np.clip(array * scale, 0, 255).astype(np.uint8), mode="L")
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def resize(image: Image.Image, spec: PreprocessSpec) -> Image.Image:
    """The resize step of :func:`to_array`, alone (for caches of pre-resized images)."""
    size = (spec.img_size, spec.img_size)
    return image if image.size == size else image.resize(size, _PIL_FILTERS[spec.interpolation])


def to_array(image: Image.Image | np.ndarray, spec: PreprocessSpec) -> np.ndarray:
    """Resize an RGB image (PIL or HWC uint8 array) and normalise it to a float32 CHW array.

    An array already ``img_size`` square (what the task stores keep, the output of
    :func:`resize`) is not resized again, so it skips the round trip through PIL."""
    size = (spec.img_size, spec.img_size)
    if isinstance(image, np.ndarray) and (image.dtype != np.uint8 or image.shape[:2] != size):
        image = Image.fromarray(image)
    source = image if isinstance(image, np.ndarray) else resize(image, spec)
    array = np.asarray(source, dtype=np.float32)
    if array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"expected an RGB image, got an array of shape {array.shape}")
    if spec.color_constancy == "shades_of_gray":
        array = shades_of_gray(array, spec.color_constancy_power)
    mean = np.asarray(spec.mean, dtype=np.float32) * 255.0
    inv_std = 1.0 / (np.asarray(spec.std, dtype=np.float32) * 255.0)
    array = (array - mean) * inv_std
    return np.ascontiguousarray(array.transpose(2, 0, 1))


def shades_of_gray(array: np.ndarray, power: int = 6) -> np.ndarray:
    """Shades of Gray colour constancy of an HWC RGB float array in 0..255: each channel's
    illuminant is its Minkowski ``power``-mean; channels are scaled so that the illuminant
    becomes grey, with the illuminant's length kept (a grey image is unchanged). Clipped to 0..255.
    """
    pixels = array.astype(np.float64).reshape(-1, 3)
    illuminant = np.power(np.mean(np.power(pixels, power), axis=0), 1.0 / power)
    norm = float(np.sqrt(np.sum(illuminant**2)))
    if norm <= 0:  # a black frame: nothing to correct
        return array.astype(np.float32)
    gain = norm / (np.sqrt(3.0) * np.maximum(illuminant, 1e-6))
    corrected: np.ndarray = np.clip(array * gain.astype(np.float32), 0.0, 255.0)
    return corrected.astype(np.float32)


def preprocess(
    source: bytes | Path | str,
    spec: PreprocessSpec,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> np.ndarray:
    """Decode and preprocess one image into the model's input, float32 ``[3, S, S]``."""
    image = decode_image(source, draft_size=spec.img_size, max_pixels=max_pixels)
    return to_array(image, spec)
