"""The fixed class taxonomy (docs/data.md).

Index order is the sorted order used by the thesis and by the SIIM-ISIC 2020 winning solution.
``melanoma`` (index 6) is the target class: "target" in every output means "flagged as melanoma".
The mapping of every source vocabulary onto these classes lives in :mod:`dermcad.data.vocabulary`.
"""

from __future__ import annotations

from typing import Final

CLASSES: Final[tuple[str, ...]] = (
    "AK",
    "BCC",
    "BKL",
    "DF",
    "SCC",
    "VASC",
    "melanoma",
    "nevus",
)
TARGET_CLASS: Final = "melanoma"
TARGET_INDEX: Final = CLASSES.index(TARGET_CLASS)
UNKNOWN_CLASS: Final = "unknown"
CLASSES_9: Final[tuple[str, ...]] = (*CLASSES, UNKNOWN_CLASS)
