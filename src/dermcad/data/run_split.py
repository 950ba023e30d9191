"""The rows of split X of run R: one reading of the index and split file a run records.

``run.json`` records ``index.path`` and ``split.path`` (docs/architecture.md, run directory).
An absolute path is used as it is; a relative one is relative to the run directory (where a
moved or copied run keeps its data beside it), never to the current folder. Evaluation, export
(parity and calibration images) and bench/accuracy_check.py all read a run's splits here;
training reads its recipe's files with :func:`split_parts`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from dermcad.data.splits import Split, kfold_train_val, subset
from dermcad.errors import UserError


def recorded_path(value: object, run_dir: Path) -> Path | None:
    """A path as ``run.json`` records it, resolved against the run directory; ``None`` if empty."""
    text = str(value or "")
    if not text:
        return None
    path = Path(text)
    return path if path.is_absolute() else Path(run_dir) / path


def run_data_files(
    info: Mapping[str, Any],
    run_dir: Path,
    *,
    index: Path | str | None = None,
    split_file: Path | str | None = None,
) -> tuple[Path, Path] | None:
    """The run's index and split file (``index``/``split_file``, given by a user, take their
    place); ``None`` when the run records none (an imported model)."""
    index_path = Path(index) if index else recorded_path(_entry(info, "index"), run_dir)
    split_path = Path(split_file) if split_file else recorded_path(_entry(info, "split"), run_dir)
    if index_path is None or split_path is None:
        return None
    return index_path, split_path


def _entry(info: Mapping[str, Any], key: str) -> object:
    record = info.get(key)
    return record.get("path") if isinstance(record, Mapping) else None


def split_parts(frame: pd.DataFrame, split: Split, fold: int | None) -> dict[str, pd.DataFrame]:
    """The parts of ``frame``: every non-empty part of a holdout split, or ``train`` and
    ``val`` of fold ``fold`` of a k-fold split."""
    if split.scheme == "kfold":
        if fold is None:
            raise UserError("a k-fold split needs a fold number, and none is given")
        train, val = kfold_train_val(frame, split, int(fold))
        return {"train": train, "val": val}
    present = set(split.assignment.values())  # a part that got no image is not listed
    return {name: subset(frame, split, name) for name in split.names if name in present}


def run_split_frames(
    info: Mapping[str, Any],
    run_dir: Path,
    *,
    index: Path | str | None = None,
    split_file: Path | str | None = None,
) -> dict[str, pd.DataFrame]:
    """Every part of the run's split as index rows (``path`` absolute, ``label_idx``), by name."""
    from dermcad.data.index import read_index
    from dermcad.data.splits import load_split

    files = run_data_files(info, run_dir, index=index, split_file=split_file)
    if files is None:
        raise UserError(
            "this run names no index/split (an imported model): give --index and --split-file"
        )
    index_path, split_path = files
    frame = read_index(index_path)
    split = load_split(split_path, frame)
    fold = _fold(info)
    if split.scheme == "kfold" and fold is None:
        raise UserError(f"{split_path} is a k-fold split and the run names no fold")
    return split_parts(frame, split, fold)


def _fold(info: Mapping[str, Any]) -> int | None:
    record = info.get("split")
    fold = record.get("fold") if isinstance(record, Mapping) else None
    return None if fold is None else int(fold)
