"""The dataset index: schema, atomic write, path resolution, fingerprint."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from dermcad.data.index import (
    INDEX_COLUMNS,
    index_fingerprint,
    make_summary,
    read_index,
    summary_path,
    write_index,
    write_summary,
)
from dermcad.errors import UserError


def _frame(tmp_path: Path) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "image_id": ["a", "b", "c"],
            "path": [str(tmp_path / "img" / "a.jpg"), "/elsewhere/b.jpg", str(tmp_path / "c.png")],
            "label": ["melanoma", "nevus", "unknown"],
            "label_idx": [6, 7, 8],
            "age": [40.0, None, 70.0],
            "sex": ["male", "", "female"],
        }
    )


def test_roundtrip_keeps_rows_and_resolves_paths(tmp_path: Path) -> None:
    out = write_index(_frame(tmp_path), tmp_path / "index.csv")
    header = out.read_text().splitlines()[0]
    assert header == ",".join(INDEX_COLUMNS)
    stored = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert stored["path"].tolist() == ["img/a.jpg", "/elsewhere/b.jpg", "c.png"]
    back = read_index(out)
    assert back["path"].tolist() == [
        str(tmp_path.resolve() / "img" / "a.jpg"),
        "/elsewhere/b.jpg",
        str(tmp_path.resolve() / "c.png"),
    ]
    assert back["label_idx"].tolist() == [6, 7, 8]
    assert back["age"].isna().tolist() == [False, True, False]
    assert back["patient_id"].tolist() == ["", "", ""]


def test_index_moves_with_its_images(tmp_path: Path) -> None:
    first = tmp_path / "one"
    write_index(_frame(first), first / "index.csv")
    moved = tmp_path / "two"
    first.rename(moved)
    assert read_index(moved / "index.csv")["path"].iloc[0] == str(moved.resolve() / "img/a.jpg")


def test_fingerprint_ignores_paths_and_order_but_not_labels(tmp_path: Path) -> None:
    frame = _frame(tmp_path)
    moved = frame.assign(path=["x", "y", "z"]).iloc[::-1]
    assert index_fingerprint(frame) == index_fingerprint(moved)
    relabelled = frame.assign(label=["nevus", "nevus", "unknown"])
    assert index_fingerprint(frame) != index_fingerprint(relabelled)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop(columns="label"), "label"),
        (lambda f: f.assign(image_id=["a", "a", "c"]), "more than once"),
        (lambda f: f.assign(label=["melanoma", "mole", "unknown"]), "mole"),
        (lambda f: f.assign(label_idx=[6, 6, 8]), "label_idx"),
        (lambda f: f.iloc[0:0], "no images"),
    ],
)
def test_invalid_frames_are_refused_and_nothing_is_written(
    tmp_path: Path, change: object, message: str
) -> None:
    frame = change(_frame(tmp_path))  # type: ignore[operator]
    with pytest.raises(UserError, match=message):
        write_index(frame, tmp_path / "index.csv")
    assert list(tmp_path.iterdir()) == []


def test_read_index_errors_name_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.csv"
    with pytest.raises(UserError, match=r"missing\.csv: index file not found"):
        read_index(missing)
    no_label = tmp_path / "no_label.csv"
    no_label.write_text("image_id,path\na,a.jpg\n")
    with pytest.raises(UserError, match=r"no_label\.csv: missing required column"):
        read_index(no_label)
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\xff\xfe\x00\x81garbage\x00\x9c")
    with pytest.raises(UserError, match=r"binary\.csv"):
        read_index(binary)


def test_summary_is_written_beside_the_index(tmp_path: Path) -> None:
    frame = _frame(tmp_path)
    index = write_index(frame, tmp_path / "data.csv")
    summary = make_summary(frame, {"missing_file": 2}, source="test")
    path = write_summary(summary, index)
    assert path == summary_path(index) == tmp_path / "data.summary.json"
    loaded = json.loads(path.read_text())
    assert loaded["classes"]["melanoma"] == 1
    assert loaded["classes"]["unknown"] == 1
    assert loaded["excluded"]["missing_file"] == 2
    assert loaded["excluded"]["duplicate_id"] == 0
    assert loaded["fingerprint"] == index_fingerprint(frame)
