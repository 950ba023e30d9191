"""ISIC 2018 task 3: ``ISIC2018_Task3_Training_GroundTruth.csv`` (``image,MEL,NV,BCC,AKIEC,BKL,
DF,VASC``). These are the HAM10000 images: pass the HAM10000 metadata to get lesion ids.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from dermcad.data.readers.common import (
    IngestResult,
    ages,
    clean_sex,
    clean_text,
    column,
    fill_from,
    read_source_csv,
)
from dermcad.data.readers.isic2019 import read_isic_onehot
from dermcad.data.vocabulary import ISIC2018_COLUMNS


def read_isic2018(
    ground_truth: Path,
    images: Path,
    *,
    ham_metadata: Path | None = None,
    num_classes: int = 8,
    verify_images: bool = False,
) -> IngestResult:
    """Index rows for ISIC 2018 task 3; lesion id, sex, age and site from HAM10000 if given."""
    result = read_isic_onehot(
        ground_truth,
        images,
        columns=ISIC2018_COLUMNS,
        source="isic2018",
        num_classes=num_classes,
        verify_images=verify_images,
    )
    if ham_metadata is not None:
        table = read_source_csv(ham_metadata, ("image_id", "lesion_id"), "HAM10000 metadata")
        meta = pd.DataFrame(
            {
                "lesion_id": column(table, "lesion_id"),
                "sex": column(table, "sex").map(clean_sex),
                "age": ages(column(table, "age")),
                "site": column(table, "localization").map(clean_text),
            }
        )
        fill_from(result, meta, table["image_id"].str.strip())
    return result
