"""Sizes in the units people read, for messages: ``25 MB``, ``64 megapixels``."""

from __future__ import annotations

_KIB = 1024


def _number(value: float) -> str:
    return f"{value:.0f}" if value == int(value) or value >= 100 else f"{value:.1f}"


def human_bytes(count: int) -> str:
    """``26214400`` -> ``"25 MB"`` (binary multiples, as file managers show them)."""
    for unit, size in (("GB", _KIB**3), ("MB", _KIB**2), ("KB", _KIB)):
        if count >= size:
            return f"{_number(count / size)} {unit}"
    return f"{count} bytes"


def human_pixels(count: int) -> str:
    """``64000000`` -> ``"64 megapixels"``; below a megapixel, the plain count."""
    if count >= 1_000_000:
        return f"{_number(count / 1_000_000)} megapixels"
    return f"{count:,} pixels"
