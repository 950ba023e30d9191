"""Sizes in error messages read as people read them."""

from __future__ import annotations

from dermcad.units import human_bytes, human_pixels


def test_bytes_in_binary_multiples() -> None:
    assert human_bytes(25 * 1024 * 1024) == "25 MB"
    assert human_bytes(256 * 1024 * 1024) == "256 MB"
    assert human_bytes(1_500_000) == "1.4 MB"
    assert human_bytes(32 * 1024) == "32 KB"
    assert human_bytes(999) == "999 bytes"


def test_pixels_in_megapixels() -> None:
    assert human_pixels(64_000_000) == "64 megapixels"
    assert human_pixels(7_077_888) == "7.1 megapixels"
    assert human_pixels(640 * 480) == "307,200 pixels"
