"""One reading of "the rows of split X of run R", the same for evaluation, export and bench,
after the run and its data have moved and from any current folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from dermcad.data.index import read_index
from dermcad.data.run_split import run_split_frames
from dermcad.data.splits import split_holdout, write_split
from dermcad.data.synthetic import make_synthetic_dataset
from dermcad.errors import UserError


def _moved_run(tmp_path: Path) -> tuple[dict[str, object], Path]:
    """A run whose run.json names its index and split relative to itself, moved with them."""
    built = tmp_path / "built"
    index = make_synthetic_dataset(built / "data", 100, image_size=16)
    frame = read_index(index)
    write_split(
        built / "data" / "split.json", frame, split_holdout(frame), seed=42, group_by="auto"
    )
    info = {
        "index": {"path": "../data/index.csv"},
        "split": {"path": "../data/split.json", "fold": None},
    }
    (built / "run").mkdir()
    (built / "run" / "run.json").write_text(json.dumps(info), encoding="utf-8")
    moved = tmp_path / "elsewhere" / "copy"
    shutil.move(built, moved)
    return info, moved / "run"


def test_relative_paths_follow_the_run_not_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    info, run_dir = _moved_run(tmp_path)
    monkeypatch.chdir(tmp_path)  # the run's data is not at ../data from here
    parts = run_split_frames(info, run_dir)
    assert set(parts) == {"train", "val", "test"}
    assert sum(len(p) for p in parts.values()) == 100
    for part in parts.values():
        assert all(Path(p).is_file() and run_dir.parent in Path(p).parents for p in part["path"])


def test_evaluation_and_export_read_the_same_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("torch")
    from dermcad.evaluation.evaluate import EvaluationSettings, _split_frames
    from dermcad.export.from_run import split_rows

    info, run_dir = _moved_run(tmp_path)
    monkeypatch.chdir(tmp_path)
    evaluated = _split_frames(dict(info), run_dir, EvaluationSettings(splits=("val", "test")))
    for name in ("val", "test"):
        exported = split_rows(dict(info), run_dir, name)
        assert exported and [(str(p), i) for p, i in exported] == list(
            zip(evaluated[name]["path"], evaluated[name]["label_idx"], strict=True)
        )


def test_a_moved_index_given_by_the_user_replaces_the_recorded_one(tmp_path: Path) -> None:
    info, run_dir = _moved_run(tmp_path)
    data = run_dir.parent / "data"
    shutil.move(data, tmp_path / "data-now")
    with pytest.raises(UserError, match="index file not found"):
        run_split_frames(info, run_dir)
    parts = run_split_frames(
        info,
        run_dir,
        index=tmp_path / "data-now" / "index.csv",
        split_file=tmp_path / "data-now" / "split.json",
    )
    assert isinstance(parts["val"], pd.DataFrame) and len(parts["val"]) > 0
