"""Union of dataset indexes: an image id is kept once; conflicting labels are dropped and counted.

HAM10000 is a subset of ISIC 2018/2019, so merging their indexes meets the same ids: the first
index listed gives the row, and empty fields (lesion id, sex, age, site) are filled from the
others. When two indexes disagree on an image's class (e.g. a HAM ``akiec`` image labelled SCC in
ISIC 2019), the image is left out and reported as ``conflicting_label``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from dermcad.data.index import normalize_index, read_index
from dermcad.data.readers.common import IngestResult
from dermcad.errors import UserError

_FILLABLE = ("patient_id", "lesion_id", "sex", "site")


def merge_frames(frames: Sequence[pd.DataFrame]) -> IngestResult:
    """Merge index frames (first wins), counting duplicate ids and dropping conflicting ones."""
    if not frames:
        raise UserError("merge needs at least one index")
    rows = pd.concat(list(frames), ignore_index=True)
    result = IngestResult(frame=rows.iloc[0:0], source="merge")
    labels = rows.groupby("image_id", sort=False)["label"].nunique()
    conflicting = labels[labels > 1].index
    result.note("conflicting_label", [str(i) for i in conflicting])
    rows = rows[~rows["image_id"].isin(conflicting)]
    repeated = rows["image_id"].duplicated(keep="first")
    result.note("duplicate_id", [str(i) for i in rows.loc[repeated, "image_id"]])
    first = rows[~repeated].set_index("image_id")
    later = rows[repeated]
    for name in _FILLABLE:
        donors = later[later[name] != ""].drop_duplicates("image_id").set_index("image_id")[name]
        values = donors.to_dict()
        filled = pd.Series([values.get(i, "") for i in first.index], index=first.index, dtype=str)
        first[name] = first[name].where(first[name] != "", filled)
    donors_age = later.dropna(subset=["age"]).drop_duplicates("image_id").set_index("image_id")
    first["age"] = first["age"].fillna(first.index.to_series().map(donors_age["age"]))
    result.frame = normalize_index(first.reset_index())
    return result


def read_merge(indexes: Sequence[Path]) -> IngestResult:
    """Read and merge index files; paths stay absolute so the result can live anywhere."""
    return merge_frames([read_index(path) for path in indexes])
