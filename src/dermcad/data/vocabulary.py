"""The one mapping from every source vocabulary to the classes of :mod:`dermcad.taxonomy`.

Sources (docs/data.md): ISIC 2019 and 2018 one-hot column names (``MEL`` .. ``UNK``,
``AKIEC``), HAM10000 ``dx`` codes, ISIC 2020 and legacy ISIC Archive diagnosis strings, the
current ISIC Archive hierarchy (``diagnosis_1`` .. ``diagnosis_5``) and folder names (class names,
short or full, any case, ``_`` or ``-`` for spaces).

Terms are matched after :func:`normalize_term`. A term mapped to ``unknown`` is a diagnosis known
to lie outside the 8 classes; a term absent from the table is "another diagnosis". Both are
excluded from 8-class indexes and labelled ``unknown`` in 9-class ones.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Final

from dermcad.taxonomy import CLASSES, UNKNOWN_CLASS

_CLASS_TERMS: Final[dict[str, tuple[str, ...]]] = {
    "AK": (
        "AK",  # ISIC 2019 column
        "AKIEC",  # ISIC 2018 column and HAM10000 dx (also holds Bowen's disease)
        "actinic keratosis",
        "actinic keratoses",
        "actinic keratoses and intraepithelial carcinoma",
        "solar or actinic keratosis",  # ISIC Archive hierarchy
        "actinic keratosis, bowenoid",
    ),
    "BCC": ("BCC", "basal cell carcinoma", "basal cell carcinomas"),
    "BKL": (
        "BKL",
        "benign keratosis",
        "benign keratosis-like lesions",
        "benign keratoses",
        "pigmented benign keratosis",
        "seborrheic keratosis",
        "seborrhoeic keratosis",
        "lichenoid keratosis",
        "lichen planus like keratosis",
        "solar lentigo",
        "lentigo NOS",
        "ink-spot lentigo",
    ),
    "DF": ("DF", "dermatofibroma", "dermatofibromas"),
    "SCC": (
        "SCC",
        "squamous cell carcinoma",
        "squamous cell carcinomas",
        "squamous cell carcinoma, NOS",
        "squamous cell carcinoma, invasive",
        "squamous cell carcinoma in situ",
        "squamous cell carcinoma in situ, Bowen's disease",
        "Bowen's disease",
        "keratoacanthoma",  # a well-differentiated SCC variant
    ),
    "VASC": (
        "VASC",
        "vascular lesion",
        "vascular lesions",
        "benign soft tissue proliferations - vascular",  # ISIC Archive diagnosis_2
        "hemangioma",
        "haemangioma",
        "angioma",
        "angiokeratoma",
        "pyogenic granuloma",
        "cherry angioma",
        "spider angioma",
    ),
    "melanoma": (
        "MEL",
        "melanoma",
        "melanomas",
        "melanoma, NOS",
        "melanoma invasive",
        "melanoma in situ",
        "melanoma metastasis",
        "malignant melanocytic proliferations (melanoma)",  # ISIC Archive diagnosis_2
    ),
    "nevus": (
        "NV",
        "nevus",
        "nevi",
        "naevus",
        "melanocytic nevus",
        "melanocytic nevi",
        "nevus, NOS, junctional",
        "nevus, NOS, compound",
        "nevus, NOS, dermal",
        "nevus, congenital",
        "nevus, combined",
        "nevus, recurrent or persistent",
        "nevus, spitz",
        "nevus, reed",
        "nevus, acral",
        "nevus, balloon cell",
        "nevus, spilus",
        "nevus, atypical, dysplastic, or clark",
        "blue nevus",
        "spitz nevus",
        "reed nevus",
        "congenital nevus",
        "dysplastic nevus",
    ),
    UNKNOWN_CLASS: (
        "UNK",  # ISIC 2019 column
        "unknown",
        "other",
        "cafe-au-lait macule",
        "atypical melanocytic proliferation",
        "atypical melanocytic neoplasm",
        "atypical intraepithelial melanocytic proliferation",
        "AIMP",
    ),
}

_SPACES = re.compile(r"\s+")


def normalize_term(text: str) -> str:
    """Case-folded, apostrophes dropped, ``_`` and ``-`` read as spaces, whitespace collapsed."""
    folded = text.casefold().replace("'", "").replace("’", "").replace("_", " ").replace("-", " ")
    return _SPACES.sub(" ", folded).strip()


def _build_table() -> dict[str, str]:
    table: dict[str, str] = {}
    for name, terms in _CLASS_TERMS.items():
        for term in (name, *terms):
            key = normalize_term(term)
            if table.get(key, name) != name:
                raise AssertionError(f"vocabulary term {term!r} maps to two classes")
            table[key] = name
    return table


VOCABULARY: Final[Mapping[str, str]] = _build_table()
"""Normalized term -> class name (one of ``CLASSES``) or ``unknown``."""

ISIC2019_COLUMNS: Final[tuple[str, ...]] = ("MEL", "NV", "BCC", "AK", "BKL", "DF", "VASC", "SCC")
ISIC2019_OPTIONAL: Final[tuple[str, ...]] = ("UNK",)
ISIC2018_COLUMNS: Final[tuple[str, ...]] = ("MEL", "NV", "BCC", "AKIEC", "BKL", "DF", "VASC")
HAM10000_DX: Final[tuple[str, ...]] = ("akiec", "bcc", "bkl", "df", "mel", "nv", "vasc")
ARCHIVE_LEVELS: Final[tuple[str, ...]] = tuple(f"diagnosis_{k}" for k in range(1, 6))


def lookup(term: str | None) -> str | None:
    """The table's class (or ``unknown``) for ``term``; None when the term is not in the table."""
    if term is None:
        return None
    return VOCABULARY.get(normalize_term(str(term)))


def to_class(term: str | None, num_classes: int = 8) -> str | None:
    """The class of a source diagnosis for an index with ``num_classes`` (8 or 9) classes.

    Unknown or other diagnoses give None with 8 classes (the image is excluded) and ``unknown``
    with 9.
    """
    if num_classes not in (len(CLASSES), len(CLASSES) + 1):
        raise ValueError(f"dermcad indexes have 8 or 9 classes, not {num_classes}")
    found = lookup(term)
    if found is not None and found != UNKNOWN_CLASS:
        return found
    return UNKNOWN_CLASS if num_classes == len(CLASSES) + 1 else None


def archive_class(levels: Sequence[str | None], num_classes: int = 8) -> tuple[str | None, str]:
    """Class of an ISIC Archive row from its ``diagnosis_1`` .. ``diagnosis_5`` values.

    The deepest level the table knows decides (so ``Nevus, Spitz`` under ``Nevus`` is a nevus,
    and an unlisted vascular leaf falls back on its vascular parent). Returns the class (None when
    excluded) and the deepest non-empty level's text, as the row's diagnosis.
    """
    present = [str(v).strip() for v in levels if v is not None and str(v).strip()]
    leaf = present[-1] if present else ""
    for text in reversed(present):
        found = lookup(text)
        if found is not None:
            return to_class(text, num_classes), leaf
    return to_class(None, num_classes), leaf
