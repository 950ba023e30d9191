"""ISIC 2017 challenge, part 3 (lesion classification): per split, ``ISIC-2017_<Split>_Part3_
GroundTruth.csv`` (``image_id,melanoma,seborrheic_keratosis`` as 0/1; nevus when both are 0) and
``ISIC-2017_<Split>_Data_metadata.csv`` (``image_id,age_approximate,sex``).

Seborrheic keratosis maps to BKL. Each image keeps its challenge split in ``official_split``
(``train``, ``val`` or ``test``, from ``Training``, ``Validation`` or ``Test``/``Test_v2`` in the
file name), which ``dermcad split --by-source`` keeps. The images of all splits may share one folder
or sit in the challenge's ``ISIC-2017_<Split>_Data/`` folders: the folder is searched recursively.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

import pandas as pd

from dermcad.data.readers.common import (
    IngestResult,
    ages,
    clean_sex,
    column,
    fill_from,
    find_images,
    finish,
    read_source_csv,
    require_dir,
)
from dermcad.errors import UserError

REQUIRED: Final = ("image_id", "melanoma", "seborrheic_keratosis")
SPLIT_NAMES: Final[dict[str, str]] = {"training": "train", "validation": "val", "test": "test"}
_GROUND_TRUTH: Final = re.compile(
    r"ISIC-2017_(Training|Validation|Test)(?:_v\d+)?_Part3_GroundTruth"
)


def official_split(path: Path) -> str:
    """``train``, ``val`` or ``test`` from an ISIC 2017 file name; UserError for any other name."""
    match = _GROUND_TRUTH.search(path.name)
    if match is None:
        raise UserError(
            f"{path}: not an ISIC 2017 part 3 ground truth file name "
            "(ISIC-2017_<Training|Validation|Test_v2>_Part3_GroundTruth.csv)"
        )
    return SPLIT_NAMES[match.group(1).casefold()]


def find_ground_truth(folder: Path) -> list[Path]:
    """The part 3 ground-truth CSVs directly in ``folder`` (sorted: training, validation, test)."""
    require_dir(folder, "ISIC 2017 ground truth")
    found = [p for p in folder.glob("*.csv") if _GROUND_TRUTH.search(p.name)]
    if not found:
        raise UserError(f"{folder}: no ISIC-2017_*_Part3_GroundTruth.csv file in this folder")
    order = list(SPLIT_NAMES.values())
    return sorted(found, key=lambda p: order.index(official_split(p)))


def metadata_for(ground_truth: Path) -> Path | None:
    """``..._Data_metadata.csv`` beside a ground-truth file, if there is one."""
    name = ground_truth.name.replace("_Part3_GroundTruth", "_Data_metadata")
    path = ground_truth.with_name(name)
    return path if path.is_file() else None


def _label(melanoma: str, keratosis: str, where: str) -> str:
    try:
        mel, sk = float(melanoma), float(keratosis)
    except ValueError as exc:
        raise UserError(f"{where}: melanoma/seborrheic_keratosis must be 0 or 1") from exc
    if {mel, sk} - {0.0, 1.0} or mel + sk > 1.0:
        raise UserError(f"{where}: melanoma/seborrheic_keratosis must be 0 or 1, at most one 1")
    return "melanoma" if mel else "BKL" if sk else "nevus"


def _read_split(ground_truth: Path) -> pd.DataFrame:
    split = official_split(ground_truth)
    table = read_source_csv(ground_truth, REQUIRED, "ISIC 2017 ground truth")
    ids = table["image_id"].str.strip()
    labels = [
        _label(m, s, f"{ground_truth}: row {i + 2} ({image_id})")
        for i, (image_id, m, s) in enumerate(
            zip(ids, table["melanoma"], table["seborrheic_keratosis"], strict=True)
        )
    ]
    diagnosis = {"melanoma": "melanoma", "BKL": "seborrheic keratosis", "nevus": "nevus"}
    return pd.DataFrame(
        {
            "image_id": ids,
            "label": labels,
            "diagnosis": [diagnosis[label] for label in labels],
            "official_split": split,
            "sex": "",
            "age": float("nan"),
        }
    )


def read_isic2017(
    ground_truth: list[Path] | Path,
    images: Path,
    *,
    verify_images: bool = False,
) -> IngestResult:
    """Index rows for ISIC 2017 part 3: ``ground_truth`` is a folder holding the challenge's
    CSVs or a list of ground-truth files; metadata files beside them fill sex and age."""
    files = find_ground_truth(ground_truth) if isinstance(ground_truth, Path) else ground_truth
    if not files:
        raise UserError("no ISIC 2017 ground truth file given")
    require_dir(images, "ISIC 2017 images")
    rows = pd.concat([_read_split(Path(f)) for f in files], ignore_index=True)
    result = finish(rows, "isic2017", find_images(images), verify_images=verify_images)
    for gt in files:
        meta_path = metadata_for(Path(gt))
        if meta_path is None:
            continue
        table = read_source_csv(meta_path, ("image_id",), "ISIC 2017 metadata")
        meta = pd.DataFrame(
            {
                "sex": column(table, "sex").map(clean_sex),
                "age": ages(column(table, "age_approximate")),
            }
        )
        fill_from(result, meta, table["image_id"].str.strip())
    return result
