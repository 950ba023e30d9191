"""Upload checks: labels are never paths; bytes are sniffed; limits; errors name the file."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from dermcad.inference.preprocess import (
    CorruptImageError,
    ImageError,
    ImageTooLargeError,
    PreprocessSpec,
    UnsupportedImageError,
    decode_image,
    to_array,
)
from dermcad.inference.uploads import (
    DISPLAY_MAX_SIDE,
    decode_upload,
    prepare_uploaded_file,
    safe_label,
)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("ISIC_1.jpg", "ISIC_1.jpg"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\doc\\lesion.png", "lesion.png"),
        ("a\x00b\nc.jpg", "abc.jpg"),
        ("", "image_3"),
        (None, "image_3"),
        ("..", "image_3"),
        ("dir/", "image_3"),
    ],
)
def test_safe_label(given: str | None, expected: str) -> None:
    assert safe_label(given, 2) == expected


def test_safe_label_is_bounded() -> None:
    assert len(safe_label("x" * 1000 + ".jpg", 0)) == 200


def _png(size: tuple[int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, "blue").save(out, format="PNG")
    return out.getvalue()


def test_decode_keeps_size_and_drafts_large_jpegs() -> None:
    out = io.BytesIO()
    Image.new("RGB", (1600, 1200), "red").save(out, format="JPEG")
    upload = decode_upload(
        out.getvalue(), "big.jpg", draft_size=64, max_bytes=10**7, max_pixels=10**7
    )
    assert (upload.width, upload.height) == (1600, 1200)
    assert upload.image.size[0] < 1600 and min(upload.image.size) >= 64  # DCT-scaled, not below 64


@pytest.mark.parametrize(
    ("data", "kwargs", "error"),
    [
        (b"GIF89a....", {}, UnsupportedImageError),
        (b"", {}, ImageError),
        (_png((50, 50))[:60], {}, CorruptImageError),
        (_png((50, 50)), {"max_pixels": 100}, ImageTooLargeError),
        (_png((50, 50)), {"max_bytes": 10}, ImageTooLargeError),
    ],
)
def test_refusals_name_the_file_and_carry_the_status(
    data: bytes, kwargs: dict[str, int], error: type[ImageError]
) -> None:
    limits = {"max_bytes": 10**7, "max_pixels": 10**7, **kwargs}
    with pytest.raises(error, match=r"^upload\.png: ") as caught:
        decode_upload(data, "upload.png", draft_size=64, **limits)
    assert caught.value.status == error.status


@pytest.mark.parametrize("size", [(1600, 1200), (300, 700)])
def test_prepared_pixels_give_exactly_the_preprocessed_input(size: tuple[int, int]) -> None:
    rng = np.random.default_rng(0)
    out = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), np.uint8)).save(out, "JPEG")
    spec = PreprocessSpec(img_size=96, interpolation="bicubic")
    prepared = prepare_uploaded_file(
        out.getvalue(), "a.jpg", spec, max_bytes=10**7, max_pixels=10**7
    )
    assert prepared.pixels.dtype == np.uint8 and prepared.pixels.shape == (96, 96, 3)
    expected = to_array(decode_image(out.getvalue(), draft_size=96), spec)
    np.testing.assert_array_equal(to_array(prepared.pixels, spec), expected)
    with Image.open(io.BytesIO(prepared.display)) as display:
        assert display.format == "JPEG" and max(display.size) <= DISPLAY_MAX_SIDE
        assert not display.getexif()
        width, height = display.size
    assert abs(width / height - size[0] / size[1]) < 0.02  # aspect kept, unlike the model input
    assert (prepared.width, prepared.height) == size


def test_the_display_copy_drops_exif_and_comments_even_without_an_orientation() -> None:
    exif = Image.Exif()
    exif[0x010F] = "SecretCameraMaker"
    out = io.BytesIO()
    Image.new("RGB", (700, 300), "red").save(
        out, format="JPEG", exif=exif.tobytes(), comment=b"SecretComment"
    )
    spec = PreprocessSpec(img_size=64)
    prepared = prepare_uploaded_file(
        out.getvalue(), "a.jpg", spec, max_bytes=10**7, max_pixels=10**7
    )
    assert b"SecretCameraMaker" not in prepared.display
    assert b"SecretComment" not in prepared.display
    with Image.open(io.BytesIO(prepared.display)) as display:
        assert not display.getexif() and display.size == (175, 75)  # draft-decoded to 1/4
