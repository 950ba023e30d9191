"""The one vocabulary table, checked against every source vocabulary (design.md section 2)."""

from __future__ import annotations

import pytest

from dermcad.data.vocabulary import (
    HAM10000_DX,
    ISIC2018_COLUMNS,
    ISIC2019_COLUMNS,
    VOCABULARY,
    archive_class,
    lookup,
    normalize_term,
    to_class,
)
from dermcad.taxonomy import CLASSES, CLASSES_9

# Written out from design.md section 2, not derived from the module under test.
ISIC2019 = {
    "MEL": "melanoma",
    "NV": "nevus",
    "BCC": "BCC",
    "AK": "AK",
    "BKL": "BKL",
    "DF": "DF",
    "VASC": "VASC",
    "SCC": "SCC",
}
ISIC2018 = {**{k: v for k, v in ISIC2019.items() if k not in ("AK", "SCC")}, "AKIEC": "AK"}
HAM = {
    "akiec": "AK",
    "bcc": "BCC",
    "bkl": "BKL",
    "df": "DF",
    "mel": "melanoma",
    "nv": "nevus",
    "vasc": "VASC",
}
LEGACY = {
    "actinic keratosis": "AK",
    "basal cell carcinoma": "BCC",
    "seborrheic keratosis": "BKL",
    "lichenoid keratosis": "BKL",
    "solar lentigo": "BKL",
    "lentigo NOS": "BKL",
    "pigmented benign keratosis": "BKL",
    "dermatofibroma": "DF",
    "squamous cell carcinoma": "SCC",
    "vascular lesion": "VASC",
    "melanoma": "melanoma",
    "nevus": "nevus",
}
ARCHIVE_LEAVES = {
    "Melanoma Invasive": "melanoma",
    "Melanoma in situ": "melanoma",
    "Melanoma, NOS": "melanoma",
    "Melanoma metastasis": "melanoma",
    "Solar or actinic keratosis": "AK",
    "Seborrheic keratosis": "BKL",
    "Solar lentigo": "BKL",
    "Lichen planus like keratosis": "BKL",
    "Pigmented benign keratosis": "BKL",
    "Hemangioma": "VASC",
    "Angiokeratoma": "VASC",
    "Pyogenic granuloma": "VASC",
    "Basal cell carcinoma": "BCC",
    "Dermatofibroma": "DF",
    "Squamous cell carcinoma, NOS": "SCC",
    "Squamous cell carcinoma in situ": "SCC",
    "Squamous cell carcinoma, Invasive": "SCC",
    "Nevus": "nevus",
}
EXCLUDED = [
    "unknown",
    "UNK",
    "cafe-au-lait macule",
    "atypical melanocytic proliferation",
    "scar",
    "verruca",
]


@pytest.mark.parametrize(
    ("term", "expected"),
    [*ISIC2019.items(), *ISIC2018.items(), *HAM.items(), *LEGACY.items(), *ARCHIVE_LEAVES.items()],
)
def test_every_source_term_maps_to_its_class(term: str, expected: str) -> None:
    assert to_class(term) == expected
    assert to_class(term, 9) == expected


def test_module_constants_list_the_source_vocabularies() -> None:
    assert set(ISIC2019_COLUMNS) == set(ISIC2019)
    assert set(ISIC2018_COLUMNS) == set(ISIC2018)
    assert set(HAM10000_DX) == set(HAM)


@pytest.mark.parametrize("term", EXCLUDED)
def test_unknown_and_other_diagnoses_are_excluded_or_unknown(term: str) -> None:
    assert to_class(term) is None
    assert to_class(term, 9) == "unknown"


@pytest.mark.parametrize("name", CLASSES)
def test_class_names_are_their_own_folder_names_in_any_case(name: str) -> None:
    for variant in (name, name.upper(), name.lower(), f"  {name.title()} "):
        assert to_class(variant) == name


@pytest.mark.parametrize(
    ("folder", "expected"),
    [
        ("MEL", "melanoma"),
        ("nv", "nevus"),
        ("Basal_Cell_Carcinoma", "BCC"),
        ("actinic-keratosis", "AK"),
        ("vascular_lesions", "VASC"),
        ("Melanocytic_Nevi", "nevus"),
        ("benign_keratosis-like_lesions", "BKL"),
        ("SQUAMOUS CELL CARCINOMA", "SCC"),
    ],
)
def test_folder_names_full_or_short(folder: str, expected: str) -> None:
    assert to_class(folder) == expected


def test_table_values_are_taxonomy_names_only() -> None:
    assert set(VOCABULARY.values()) == set(CLASSES_9)
    assert all(key == normalize_term(key) for key in VOCABULARY)


def test_lookup_of_an_unlisted_term_is_none() -> None:
    assert lookup("Trichilemmal or isthmic-catagen or pilar cyst") is None
    assert lookup(None) is None


def test_class_count_other_than_8_or_9_is_refused() -> None:
    with pytest.raises(ValueError, match="8 or 9"):
        to_class("melanoma", 7)


@pytest.mark.parametrize(
    ("levels", "expected", "leaf"),
    [
        (
            ["Malignant", "Malignant melanocytic proliferations (Melanoma)", "Melanoma Invasive"],
            "melanoma",
            "Melanoma Invasive",
        ),
        (
            ["Benign", "Benign melanocytic proliferations", "Nevus", "Nevus, Spitz", ""],
            "nevus",
            "Nevus, Spitz",
        ),
        (
            ["Benign", "Benign melanocytic proliferations", "Nevus", "Nevus, Made Up Variant"],
            "nevus",
            "Nevus, Made Up Variant",
        ),
        (
            ["Benign", "Benign soft tissue proliferations - Vascular", "", None],
            "VASC",
            "Benign soft tissue proliferations - Vascular",
        ),
        (
            [
                "Indeterminate",
                "Indeterminate melanocytic proliferations",
                "Atypical melanocytic neoplasm",
            ],
            None,
            "Atypical melanocytic neoplasm",
        ),
        (["Benign", "Benign epidermal proliferations", "Verruca"], None, "Verruca"),
        (["Benign", None, None], None, "Benign"),
        ([None, None], None, ""),
    ],
)
def test_archive_hierarchy_uses_the_deepest_known_level(
    levels: list[str | None], expected: str | None, leaf: str
) -> None:
    assert archive_class(levels) == (expected, leaf)
    assert archive_class(levels, 9) == (expected or "unknown", leaf)
