"""Readers on the real files in ../shared/data."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

from dermcad.data.readers.ham10000 import read_ham10000
from dermcad.data.readers.isic2019 import read_isic2019

pytestmark = pytest.mark.realdata

HAM_TO_CLASS = {
    "akiec": "AK",
    "bcc": "BCC",
    "bkl": "BKL",
    "df": "DF",
    "mel": "melanoma",
    "nv": "nevus",
    "vasc": "VASC",
}
ISIC2019_TO_CLASS = {
    "MEL": "melanoma",
    "NV": "nevus",
    "BCC": "BCC",
    "AK": "AK",
    "BKL": "BKL",
    "DF": "DF",
    "VASC": "VASC",
    "SCC": "SCC",
}


def test_ham10000_every_row_with_the_dx_counts(shared_data: Path) -> None:
    folder = shared_data / "ham10000-200x150"
    with (folder / "HAM10000_metadata.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    expected = Counter(HAM_TO_CLASS[row["dx"]] for row in rows)
    result = read_ham10000(folder / "HAM10000_metadata.csv", folder / "images")
    frame = result.frame
    assert len(frame) == len(rows) == 10015
    assert Counter(frame["label"]) == expected
    assert result.problems == 0
    assert frame["image_id"].is_unique
    lesions = {row["image_id"]: row["lesion_id"] for row in rows}
    assert (frame["image_id"].map(lesions) == frame["lesion_id"]).all()
    assert all(
        Path(p).name == f"{i}.jpg" for i, p in zip(frame["image_id"], frame["path"], strict=True)
    )


def test_isic2019_ground_truth_with_the_images_present(shared_data: Path) -> None:
    folder = shared_data / "isic-real"
    gt_path = folder / "ground_truth" / "ISIC_2019_Training_GroundTruth.csv"
    with gt_path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    present = {p.stem for p in (folder / "images").glob("*.jpg")}
    truth = {}
    for row in rows:
        base = row["image"].removesuffix("_downsampled")
        hot = [c for c in ISIC2019_TO_CLASS if float(row[c]) == 1.0]
        truth[base] = ISIC2019_TO_CLASS[hot[0]]
    expected = {i: label for i, label in truth.items() if i in present}
    assert 0 < len(expected) < len(present)  # some shared images are not in ISIC 2019

    result = read_isic2019(gt_path, folder / "images")
    got = dict(zip(result.frame["image_id"], result.frame["label"], strict=True))
    assert got == expected
    assert result.reasons["missing_file"] == len(rows) - len(expected)
    assert result.reasons["conflicting_label"] == 0
    # the downsampled names of the 2019 file are matched to their base ids
    downsampled = {
        r["image"].removesuffix("_downsampled") for r in rows if "_downsampled" in r["image"]
    }
    assert downsampled & set(got)


def test_merging_ham_and_isic2019_reports_the_two_akiec_scc_conflicts(
    shared_data: Path, tmp_path: Path
) -> None:
    """isic-real/README: ISIC_0024329 and ISIC_0024372 are HAM akiec but SCC in ISIC 2019."""
    from dermcad.data.index import write_index
    from dermcad.data.readers.merge import read_merge

    folder = shared_data / "isic-real"
    ham = read_ham10000(folder / "ground_truth" / "HAM10000_metadata.csv", folder / "images")
    isic = read_isic2019(
        folder / "ground_truth" / "ISIC_2019_Training_GroundTruth.csv", folder / "images"
    )
    first = write_index(ham.frame, tmp_path / "ham.csv")
    second = write_index(isic.frame, tmp_path / "isic.csv")
    merged = read_merge([first, second])
    assert sorted(merged.examples["conflicting_label"]) == ["ISIC_0024329", "ISIC_0024372"]
    overlap = set(ham.frame["image_id"]) & set(isic.frame["image_id"])
    assert merged.reasons["duplicate_id"] == len(overlap) - 2
    assert len(merged.frame) == len(set(ham.frame["image_id"]) | set(isic.frame["image_id"])) - 2
    # lesion ids from HAM survive the merge for the shared images
    kept = merged.frame.set_index("image_id")
    assert kept.loc["ISIC_0024318", "lesion_id"] == kept.loc["ISIC_0024396", "lesion_id"] != ""
