"""The one preprocessing function: decoding rules, resizing and normalisation."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from dermcad.inference.preprocess import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    CorruptImageError,
    ImageTooLargeError,
    PreprocessSpec,
    UnsupportedImageError,
    decode_image,
    preprocess,
    resize,
    sniff_format,
    to_array,
)


def encode(image: Image.Image, fmt: str = "JPEG", **kwargs: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def test_constant_image_normalises_to_hand_computed_values() -> None:
    spec = PreprocessSpec(img_size=16)
    colour = (200, 100, 50)
    array = to_array(Image.new("RGB", (40, 30), colour), spec)
    assert array.shape == (3, 16, 16)
    assert array.dtype == np.float32
    for channel in range(3):
        expected = (colour[channel] / 255.0 - IMAGENET_MEAN[channel]) / IMAGENET_STD[channel]
        np.testing.assert_allclose(array[channel], expected, rtol=1e-5)


def test_channels_stay_in_rgb_order_and_layout_is_chw() -> None:
    spec = PreprocessSpec(img_size=8, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
    array = to_array(Image.new("RGB", (8, 8), (255, 0, 0)), spec)
    np.testing.assert_allclose(array[0], 1.0)
    np.testing.assert_allclose(array[1:], 0.0)


def test_resize_squashes_to_a_square() -> None:
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 255, (30, 90, 3), dtype=np.uint8))
    assert to_array(image, PreprocessSpec(img_size=24)).shape == (3, 24, 24)


def test_exif_orientation_is_applied() -> None:
    image = Image.new("RGB", (40, 20), (10, 20, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    decoded = decode_image(encode(image, exif=exif.tobytes()))
    assert decoded.size == (20, 40)
    assert "exif" not in decoded.info or decoded.getexif().get(0x0112) in (None, 1)


def test_draft_decoding_reduces_large_jpegs_but_never_below_the_target() -> None:
    data = encode(Image.new("RGB", (1024, 768), (120, 60, 30)))
    assert decode_image(data).size == (1024, 768)
    reduced = decode_image(data, draft_size=256)
    assert reduced.size == (512, 384)
    assert min(reduced.size) >= 256


@pytest.mark.parametrize(
    ("mode", "colour"),
    [("L", 128), ("CMYK", (0, 0, 0, 0)), ("P", 3)],
)
def test_other_modes_become_rgb(mode: str, colour: object) -> None:
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    decoded = decode_image(encode(Image.new(mode, (10, 10), colour), fmt))  # type: ignore[arg-type]
    assert decoded.mode == "RGB"
    assert decoded.size == (10, 10)


def test_transparent_png_is_composited_on_white() -> None:
    decoded = decode_image(encode(Image.new("RGBA", (4, 4), (255, 0, 0, 0)), "PNG"))
    assert decoded.getpixel((0, 0)) == (255, 255, 255)


def test_sixteen_bit_png_is_scaled_not_clipped() -> None:
    array = np.full((4, 4), 65535 // 2, dtype=np.uint16)
    decoded = decode_image(encode(Image.fromarray(array), "PNG"))
    assert decoded.mode == "RGB"
    assert abs(decoded.getpixel((0, 0))[0] - 127) <= 1  # type: ignore[index]


def test_format_is_sniffed_from_bytes() -> None:
    assert sniff_format(encode(Image.new("RGB", (2, 2)))) == "JPEG"
    assert sniff_format(encode(Image.new("RGB", (2, 2)), "PNG")) == "PNG"
    assert sniff_format(encode(Image.new("RGB", (2, 2)), "GIF")) is None
    with pytest.raises(UnsupportedImageError):
        decode_image(b"hello, this is text named image.jpg")
    with pytest.raises(UnsupportedImageError):
        decode_image(encode(Image.new("RGB", (2, 2)), "BMP"))


def test_truncated_jpeg_is_a_corrupt_image() -> None:
    data = encode(Image.fromarray(np.random.default_rng(1).integers(0, 255, (64, 64, 3), np.uint8)))
    with pytest.raises(CorruptImageError):
        decode_image(data[: len(data) // 2])


def png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def test_decompression_bomb_is_refused_before_decoding() -> None:
    with pytest.raises(ImageTooLargeError) as info:
        decode_image(png_header_only(20000, 20000), max_pixels=50_000_000)
    assert info.value.status == 413


def test_preprocess_equals_decode_then_to_array() -> None:
    spec = PreprocessSpec(img_size=32, interpolation="bicubic")
    rng = np.random.default_rng(2)
    data = encode(Image.fromarray(rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)), "PNG")
    np.testing.assert_array_equal(
        preprocess(data, spec), to_array(decode_image(data, draft_size=32), spec)
    )


def test_spec_round_trips_through_a_dict() -> None:
    spec = PreprocessSpec(img_size=224, interpolation="bicubic", mean=(0.5, 0.5, 0.5))
    assert PreprocessSpec.from_dict(spec.to_dict()) == spec
    with pytest.raises(ValueError, match="interpolation"):
        PreprocessSpec(interpolation="cubic")  # type: ignore[arg-type]


def test_arrays_give_what_images_give() -> None:
    """An HWC uint8 array, already the model's size (what task stores keep) or not, is
    preprocessed exactly as the same pixels as a PIL image; a grey array is refused."""
    spec = PreprocessSpec(img_size=24, interpolation="bicubic")
    rng = np.random.default_rng(3)
    for shape in ((24, 24, 3), (30, 40, 3)):
        pixels = rng.integers(0, 255, shape, dtype=np.uint8)
        np.testing.assert_array_equal(
            to_array(pixels, spec), to_array(Image.fromarray(pixels), spec)
        )
    image = Image.fromarray(rng.integers(0, 255, (30, 40, 3), dtype=np.uint8))
    np.testing.assert_array_equal(
        to_array(np.asarray(resize(image, spec)), spec), to_array(image, spec)
    )
    with pytest.raises(ValueError, match="RGB"):
        to_array(np.zeros((24, 24), dtype=np.uint8), spec)


def test_shades_of_gray_removes_a_colour_cast_and_leaves_grey_alone() -> None:
    """The same lesion photographed under a warm and a neutral illuminant: after Shades of Gray
    the two inputs agree far better than before; a grey image passes unchanged."""
    rng = np.random.default_rng(4)
    scene = rng.uniform(40, 200, size=(32, 32, 1)) * np.ones((1, 1, 3))
    scene[8:20, 8:20] *= (0.6, 0.4, 0.3)  # a brown lesion on grey skin
    warm = np.clip(scene * (1.25, 1.0, 0.7), 0, 255).astype(np.uint8)
    neutral = np.clip(scene, 0, 255).astype(np.uint8)
    plain = PreprocessSpec(img_size=32)
    sog = PreprocessSpec(img_size=32, color_constancy="shades_of_gray")
    before = np.abs(to_array(warm, plain) - to_array(neutral, plain)).mean()
    after = np.abs(to_array(warm, sog) - to_array(neutral, sog)).mean()
    assert after < before / 4
    grey = np.full((32, 32, 3), 128, np.uint8)
    np.testing.assert_allclose(to_array(grey, sog), to_array(grey, plain), atol=1e-5)
    black = np.zeros((32, 32, 3), np.uint8)
    assert np.isfinite(to_array(black, sog)).all()


def test_colour_constancy_is_stored_only_when_used() -> None:
    from dermcad.registry.manifest import PreprocessInfo

    plain = PreprocessSpec(img_size=64)
    assert "color_constancy" not in plain.to_dict()  # older specs and manifests read the same
    sog = PreprocessSpec(img_size=64, color_constancy="shades_of_gray", color_constancy_power=4)
    stored = sog.to_dict()
    assert stored["color_constancy"] == "shades_of_gray" and stored["color_constancy_power"] == 4
    assert PreprocessSpec.from_dict(stored) == sog
    assert PreprocessInfo.from_spec(sog).to_spec() == sog  # manifest round trip
    assert PreprocessInfo.from_spec(plain).to_spec() == plain
    with pytest.raises(ValueError, match="color_constancy"):
        PreprocessSpec(img_size=64, color_constancy="grey_world")  # type: ignore[arg-type]
