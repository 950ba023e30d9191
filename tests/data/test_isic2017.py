"""``dermcad ingest isic2017`` and ``dermcad split --by-source``: a generated copy of the official
layout, the real shared folder, and the split that keeps each source's own assignment."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from tests.data.helpers import write_csv, write_jpegs
from typer.testing import CliRunner

from dermcad.cli.main import app
from dermcad.data.index import read_index, write_index
from dermcad.data.readers.isic2017 import official_split, read_isic2017
from dermcad.data.splits import split_holdout, split_holdout_by_source
from dermcad.errors import UserError

runner = CliRunner()
GT = "ISIC-2017_{}_Part3_GroundTruth.csv"
META = "ISIC-2017_{}_Data_metadata.csv"


def official_layout(root: Path) -> tuple[Path, Path]:
    """The challenge's download: one image folder per split, ground truth + metadata CSVs."""
    truth = root / "gt"
    truth.mkdir(parents=True)
    splits = {
        "Training": [("ISIC_0000001", 1, 0), ("ISIC_0000002", 0, 1), ("ISIC_0000003", 0, 0)],
        "Validation": [("ISIC_0000010", 0.0, 0.0), ("ISIC_0000011", 1.0, 0.0)],
        "Test_v2": [("ISIC_0000020", 0, 1), ("ISIC_0000021", 0, 0)],
    }
    for name, rows in splits.items():
        write_csv(truth / GT.format(name), ("image_id", "melanoma", "seborrheic_keratosis"), rows)
        write_jpegs(root / "images" / f"ISIC-2017_{name}_Data", [r[0] for r in rows])
    write_csv(
        truth / META.format("Training"),
        ("image_id", "age_approximate", "sex"),
        [("ISIC_0000001", 55, "female"), ("ISIC_0000002", "unknown", "unknown")],
    )
    return truth, root / "images"


def test_official_layout_labels_splits_and_metadata(tmp_path: Path) -> None:
    truth, images = official_layout(tmp_path)
    frame = read_isic2017(truth, images).frame.set_index("image_id")
    assert frame["label"].to_dict() == {
        "ISIC_0000001": "melanoma",
        "ISIC_0000002": "BKL",
        "ISIC_0000003": "nevus",
        "ISIC_0000010": "nevus",
        "ISIC_0000011": "melanoma",
        "ISIC_0000020": "BKL",
        "ISIC_0000021": "nevus",
    }
    assert frame.loc["ISIC_0000002", "diagnosis"] == "seborrheic keratosis"
    assert frame["official_split"].to_dict() == {
        "ISIC_0000001": "train",
        "ISIC_0000002": "train",
        "ISIC_0000003": "train",
        "ISIC_0000010": "val",
        "ISIC_0000011": "val",
        "ISIC_0000020": "test",
        "ISIC_0000021": "test",
    }
    assert frame.loc["ISIC_0000001", "sex"] == "female"
    assert frame.loc["ISIC_0000001", "age"] == 55
    assert frame.loc["ISIC_0000002", "sex"] == ""  # "unknown" is not a sex
    assert pd.isna(frame.loc["ISIC_0000002", "age"])
    assert set(frame["source"]) == {"isic2017"}


def test_official_split_survives_write_read_and_merge(tmp_path: Path) -> None:
    truth, images = official_layout(tmp_path)
    out = tmp_path / "isic2017.csv"
    result = runner.invoke(
        app, ["ingest", "isic2017", "--ground-truth", str(truth), "--images", str(images),
              "--out", str(out)]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output
    merged = tmp_path / "merged.csv"
    result = runner.invoke(app, ["ingest", "merge", str(out), "--out", str(merged)])
    assert result.exit_code == 0, result.output
    frame = read_index(merged).set_index("image_id")
    assert frame.loc["ISIC_0000020", "official_split"] == "test"
    assert frame.loc["ISIC_0000010", "official_split"] == "val"


def test_one_ground_truth_file_reads_that_split_only(tmp_path: Path) -> None:
    truth, images = official_layout(tmp_path)
    frame = read_isic2017([truth / GT.format("Validation")], images).frame
    assert sorted(frame["image_id"]) == ["ISIC_0000010", "ISIC_0000011"]
    assert set(frame["official_split"]) == {"val"}


def test_bad_inputs_are_clear_errors(tmp_path: Path) -> None:
    truth, images = official_layout(tmp_path)
    with pytest.raises(UserError, match="not an ISIC 2017 part 3 ground truth"):
        official_split(tmp_path / "labels.csv")
    bad = write_csv(
        truth / GT.format("Validation"),
        ("image_id", "melanoma", "seborrheic_keratosis"),
        [("ISIC_0000010", 1, 1)],
    )
    with pytest.raises(UserError, match="at most one 1"):
        read_isic2017([bad], images)
    empty = tmp_path / "empty"
    empty.mkdir()
    result = runner.invoke(
        app, ["ingest", "isic2017", "--ground-truth", str(empty), "--images", str(images),
              "--out", str(tmp_path / "x.csv")]
    )  # fmt: skip
    assert result.exit_code != 0
    assert "no ISIC-2017_*_Part3_GroundTruth.csv" in result.output
    assert not (tmp_path / "x.csv").exists()


def _frame(rows: list[tuple[str, str, str, str, str]], tmp_path: Path) -> pd.DataFrame:
    write_jpegs(tmp_path / "img", [r[0] for r in rows])
    frame = pd.DataFrame(
        rows, columns=["image_id", "label", "source", "lesion_id", "official_split"]
    ).assign(path=[str(tmp_path / "img" / f"{r[0]}.jpg") for r in rows])
    frame["label_idx"] = frame["label"].map(
        ["AK", "BCC", "BKL", "DF", "SCC", "VASC", "melanoma", "nevus"].index
    )
    return read_index(write_index(frame, tmp_path / "index.csv"))


def test_by_source_keeps_each_source_alone_and_official_splits(tmp_path: Path) -> None:
    ham = [
        (f"HAM_{i:04d}", "melanoma" if i % 4 == 0 else "nevus", "ham10000", f"L{i // 2}", "")
        for i in range(120)
    ]
    isic = [
        (f"ISIC_{i:04d}", "melanoma" if i % 3 == 0 else "BKL", "isic2017", "", s)
        for i, s in enumerate(["train"] * 20 + ["val"] * 5 + ["test"] * 10)
    ]
    merged = _frame(ham + isic, tmp_path)
    by_source = split_holdout_by_source(merged, seed=7, group_by="lesion")
    ham_only = split_holdout(merged[merged["source"] == "ham10000"], seed=7, group_by="lesion")
    assert {i: by_source[i] for i in ham_only} == ham_only
    assert all(by_source[i] == s for i, _, _, _, s in isic)
    plain = split_holdout(merged, seed=7, group_by="lesion")
    assert any(plain[i] != s for i, _, _, _, s in isic)  # without --by-source they are dealt

    out = tmp_path / "split.json"
    index = tmp_path / "index.csv"
    result = runner.invoke(
        app, ["split", str(index), "--out", str(out), "--by-source", "--seed", "7",
              "--group", "lesion"]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    record = json.loads(out.read_text())
    assert record["by_source"] is True
    assert record["assignment"] == by_source
    result = runner.invoke(
        app, ["split", str(index), "--out", str(out), "--by-source", "--folds", "5"]
    )
    assert result.exit_code != 0
    assert "--by-source" in result.output


def test_by_source_refuses_an_official_split_it_cannot_keep(tmp_path: Path) -> None:
    rows = [(f"ISIC_{i:04d}", "nevus", "isic2017", "", "test") for i in range(6)]
    frame = _frame(rows, tmp_path)
    with pytest.raises(UserError, match="official split"):
        split_holdout_by_source(frame, (0.8, 0.2))


@pytest.mark.realdata
def test_shared_isic2017_folder(shared_data: Path) -> None:
    folder = shared_data / "isic2017-256"
    result = read_isic2017(folder / "ground_truth", folder / "images")
    frame = result.frame
    assert result.problems == 0
    with (folder / "labels.csv").open(newline="") as handle:
        labels = {r["isic_id"]: r for r in csv.DictReader(handle)}
    assert len(frame) == len(labels) == 2230
    to_class = {"melanoma": "melanoma", "nevus": "nevus", "seborrheic keratosis": "BKL"}
    assert all(
        to_class[labels[i]["diagnosis"]] == c
        for i, c in zip(frame["image_id"], frame["label"], strict=False)
    )
    split_names = {"train": "train", "validation": "val", "test": "test"}
    assert all(
        split_names[labels[i]["split_2017"]] == s
        for i, s in zip(frame["image_id"], frame["official_split"], strict=False)
    )
    counts = Counter(zip(frame["official_split"], frame["label"], strict=False))
    assert counts[("train", "melanoma")] == 175
    assert counts[("val", "BKL")] == 42
    assert counts[("test", "nevus")] == 393
    assert (frame["sex"] != "").sum() == sum(1 for r in labels.values() if r["sex"])
