"""A folder written by ``isic image download``: images named by ISIC id and ``metadata.csv``
with ``isic_id``, ``patient_id``, ``lesion_id``, ``sex``, ``age_approx``,
``anatom_site_general`` and the diagnosis hierarchy ``diagnosis_1`` .. ``diagnosis_5`` (older
exports: one ``diagnosis`` column)."""

from __future__ import annotations

from pathlib import Path

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
from dermcad.data.vocabulary import ARCHIVE_LEVELS, archive_class
from dermcad.errors import UserError


def read_isic_archive(
    download_dir: Path,
    *,
    metadata: Path | None = None,
    num_classes: int = 8,
    verify_images: bool = False,
) -> IngestResult:
    """Index rows for an ``isic image download`` folder, classed by the deepest known level."""
    require_dir(download_dir, "ISIC Archive download")
    meta_path = metadata if metadata is not None else download_dir / "metadata.csv"
    table = read_source_csv(meta_path, ("isic_id",), "ISIC Archive metadata")
    levels = [c for c in (*ARCHIVE_LEVELS, "diagnosis") if c in table.columns]
    if not levels:
        raise UserError(f"{meta_path}: ISIC Archive metadata lacks diagnosis_1..5 (or diagnosis)")
    decided = [archive_class(row, num_classes) for row in table[levels].to_numpy().tolist()]
    rows = pd.DataFrame(
        {
            "image_id": table["isic_id"].str.strip(),
            "label": [label for label, _ in decided],
            "patient_id": column(table, "patient_id").map(clean_text),
            "lesion_id": column(table, "lesion_id").map(clean_text),
            "sex": column(table, "sex").map(clean_sex),
            "age": ages(column(table, "age_approx")),
            "site": column(table, "anatom_site_general").map(clean_text),
            "diagnosis": [leaf for _, leaf in decided],
        }
    )
    return finish(rows, "isic-archive", find_images(download_dir), verify_images=verify_images)
