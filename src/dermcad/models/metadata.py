"""Encoding of the optional metadata features (age, sex, site) as a float vector. No torch."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

#: Anatomical sites, lower-cased, as ISIC 2020 and HAM10000 spell them (anything else: "other").
SITES: tuple[str, ...] = (
    "head/neck",
    "upper extremity",
    "lower extremity",
    "torso",
    "palms/soles",
    "oral/genital",
    "other",
)
_SITE_ALIASES: dict[str, str] = {
    "face": "head/neck",
    "scalp": "head/neck",
    "ear": "head/neck",
    "neck": "head/neck",
    "upper extremity": "upper extremity",
    "hand": "upper extremity",
    "lower extremity": "lower extremity",
    "foot": "lower extremity",
    "acral": "palms/soles",
    "back": "torso",
    "trunk": "torso",
    "chest": "torso",
    "abdomen": "torso",
    "anterior torso": "torso",
    "posterior torso": "torso",
    "lateral torso": "torso",
    "genital": "oral/genital",
}
_WIDTHS: dict[str, int] = {"age": 2, "sex": 2, "site": len(SITES)}


def metadata_width(features: Sequence[str]) -> int:
    """Length of the encoded vector for these features."""
    return sum(_WIDTHS[name] for name in features)


def _site(value: str) -> str:
    key = value.strip().lower()
    if key in SITES:
        return key
    return _SITE_ALIASES.get(key, "other")


def encode_metadata(
    features: Sequence[str], age: float | None, sex: str | None, site: str | None
) -> np.ndarray:
    """One image's metadata as float32: age/90 plus a missing flag, sex one-hot, site one-hot."""
    parts: list[float] = []
    for name in features:
        if name == "age":
            missing = age is None or (isinstance(age, float) and math.isnan(age))
            parts += [0.0 if missing else float(age) / 90.0, 1.0 if missing else 0.0]  # type: ignore[arg-type]
        elif name == "sex":
            parts += [float(sex == "male"), float(sex == "female")]
        elif name == "site":
            onehot = [0.0] * len(SITES)
            if site:
                onehot[SITES.index(_site(site))] = 1.0
            parts += onehot
        else:
            raise ValueError(f"unknown metadata feature {name!r}")
    return np.asarray(parts, dtype=np.float32)
