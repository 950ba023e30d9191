"""HAM10000: ``HAM10000_metadata.csv`` (lesion_id,image_id,dx,dx_type,age,sex,localization)."""

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

REQUIRED: Final = ("lesion_id", "image_id", "dx")


def read_ham10000(
    metadata: Path, images: Path, *, num_classes: int = 8, verify_images: bool = False
) -> IngestResult:
    """Index rows for a HAM10000 release: the metadata CSV and the folder(s) of its images."""
    table = read_source_csv(metadata, REQUIRED, "HAM10000 metadata")
    require_dir(images, "HAM10000 images")
    rows = pd.DataFrame(
        {
            "image_id": table["image_id"].str.strip(),
            "label": [to_class(dx, num_classes) for dx in table["dx"]],
            "lesion_id": table["lesion_id"].str.strip(),
            "sex": column(table, "sex").map(clean_sex),
            "age": ages(column(table, "age")),
            "site": column(table, "localization").map(clean_text),
            "diagnosis": table["dx"],
        }
    )
    return finish(rows, "ham10000", find_images(images), verify_images=verify_images)
