"""ISIC 2020 (SIIM-ISIC): ``train.csv`` (``image_name, patient_id, sex, age_approx,
anatom_site_general_challenge, diagnosis, benign_malignant, target``)."""

from __future__ import annotations

from pathlib import Path
from typing import Final

import pandas as pd

from dermcad.data.readers.common import (
    IngestResult,
    ages,
    clean_sex,
    clean_text,
    column,
    find_images,
    finish,
    read_source_csv,
    require_dir,
)
from dermcad.data.vocabulary import to_class

REQUIRED: Final = ("image_name", "diagnosis")


def read_isic2020(
    metadata: Path, images: Path, *, num_classes: int = 8, verify_images: bool = False
) -> IngestResult:
    """Index rows for ISIC 2020; ``unknown`` diagnoses are excluded (or ``unknown`` with 9)."""
    table = read_source_csv(metadata, REQUIRED, "ISIC 2020 metadata")
    require_dir(images, "ISIC 2020 images")
    rows = pd.DataFrame(
        {
            "image_id": table["image_name"].str.strip(),
            "label": [to_class(d, num_classes) for d in table["diagnosis"]],
            "patient_id": column(table, "patient_id").map(clean_text),
            "lesion_id": column(table, "lesion_id").map(clean_text),
            "sex": column(table, "sex").map(clean_sex),
            "age": ages(column(table, "age_approx")),
            "site": column(table, "anatom_site_general_challenge").map(clean_text),
            "diagnosis": table["diagnosis"],
        }
    )
    return finish(rows, "isic2020", find_images(images), verify_images=verify_images)
