"""ISIC 2019: ``ISIC_2019_Training_GroundTruth.csv`` (one-hot ``image,MEL..SCC,UNK``) and,
optionally, ``ISIC_2019_Training_Metadata.csv`` (``image,age_approx,anatom_site_general,
lesion_id,sex``). Names like ``ISIC_0000001_downsampled`` are read as ``ISIC_0000001``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import pandas as pd

from dermcad.data.readers.common import (
    IngestResult,
    ages,
    base_isic_id,
    clean_sex,
    clean_text,
    column,
    fill_from,
    find_images,
    finish,
    read_source_csv,
    require_dir,
)
from dermcad.data.readers.onehot import onehot_diagnosis
from dermcad.data.vocabulary import ISIC2019_COLUMNS, ISIC2019_OPTIONAL, to_class

METADATA_REQUIRED: Final = ("image",)


def read_isic_onehot(
    ground_truth: Path,
    images: Path,
    *,
    columns: tuple[str, ...],
    source: str,
    num_classes: int = 8,
    verify_images: bool = False,
) -> IngestResult:
    """Rows of a one-hot ground truth (2019 or 2018 layout), before any metadata join."""
    table = read_source_csv(ground_truth, ("image", *columns), f"{source} ground truth")
    require_dir(images, f"{source} images")
    present = [*columns, *(c for c in ISIC2019_OPTIONAL if c in table.columns)]
    diagnosis = onehot_diagnosis(table, present, ground_truth)
    several = diagnosis.str.contains("+", regex=False)
    rows = pd.DataFrame(
        {
            "image_id": table["image"].map(base_isic_id),
            "label": [None if "+" in d else to_class(d or None, num_classes) for d in diagnosis],
            "diagnosis": diagnosis,
        }
    )
    multi = rows.loc[several, "image_id"].astype(str)
    rows = rows[~several]
    found = find_images(images)
    by_base = {base_isic_id(stem): path for stem, path in found.items()}
    result = finish(rows, source, {**by_base, **found}, verify_images=verify_images)
    result.note("conflicting_label", multi)
    return result


def join_metadata(result: IngestResult, metadata: Path) -> None:
    """Fill lesion id, sex, age and site from an ISIC 2019-style metadata CSV (in place)."""
    table = read_source_csv(metadata, METADATA_REQUIRED, "ISIC metadata")
    meta = pd.DataFrame(
        {
            "lesion_id": column(table, "lesion_id").map(clean_text),
            "sex": column(table, "sex").map(clean_sex),
            "age": ages(column(table, "age_approx")),
            "site": column(table, "anatom_site_general").map(clean_text),
        }
    )
    fill_from(result, meta, table["image"].map(base_isic_id))


def read_isic2019(
    ground_truth: Path,
    images: Path,
    *,
    metadata: Path | None = None,
    num_classes: int = 8,
    verify_images: bool = False,
) -> IngestResult:
    """Index rows for ISIC 2019 training data; only images present in ``images`` get rows."""
    result = read_isic_onehot(
        ground_truth,
        images,
        columns=ISIC2019_COLUMNS,
        source="isic2019",
        num_classes=num_classes,
        verify_images=verify_images,
    )
    if metadata is not None:
        join_metadata(result, metadata)
    return result
