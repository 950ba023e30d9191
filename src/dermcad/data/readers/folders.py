"""A folder per class: ``ROOT/<class>/**/<image>``; class folders named by any term of the
vocabulary (``melanoma``, ``MEL``, ``nevus``, ``NV``, ``basal_cell_carcinoma``, ...), any case."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from dermcad.data.readers.common import IngestResult, find_images, finish, require_dir
from dermcad.data.vocabulary import to_class
from dermcad.errors import UserError


def read_folders(root: Path, *, num_classes: int = 8, verify_images: bool = False) -> IngestResult:
    """Index rows for a folder-per-class tree; the image id is the file stem."""
    require_dir(root, "class")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise UserError(f"{root}: no class sub-folders found")
    records: list[dict[str, object]] = []
    paths: dict[str, Path] = {}
    for folder in folders:
        label = to_class(folder.name, num_classes)
        for stem, path in find_images(folder).items():
            records.append({"image_id": stem, "label": label, "diagnosis": folder.name})
            paths.setdefault(stem, path)
    columns = ["image_id", "label", "diagnosis"]
    rows = pd.DataFrame.from_records(records, columns=columns)
    return finish(rows, "folders", paths, verify_images=verify_images)
