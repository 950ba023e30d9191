"""Stratified, grouped holdout and k-fold splits, and the split file (docs/architecture.md).

Images are grouped (by patient, else lesion, else the image itself) and whole groups are dealt to
the splits, largest first, each to the split where it keeps every class's count closest to its
requested share. No group ever sits on two sides; class proportions stay close to the whole
dataset's. The split file records the seed, the scheme and the index fingerprint, and
:func:`load_split` refuses a split made from another index.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from dermcad.atomic import write_json_atomic
from dermcad.data.index import index_fingerprint
from dermcad.errors import UserError

SPLIT_FORMAT: Final = "dermcad-split/1"
GROUP_CHOICES: Final[tuple[str, ...]] = ("patient", "lesion", "image", "auto")
HOLDOUT_NAMES: Final[dict[int, tuple[str, ...]]] = {
    2: ("train", "val"),
    3: ("train", "val", "test"),
}


def group_keys(frame: pd.DataFrame, group_by: str = "auto") -> pd.Series:
    """The group of each row.

    ``patient``: the patient id, else the image; ``lesion``: the lesion id, else the image;
    ``image``: the image; ``auto``: images sharing a patient id or a lesion id are one group
    (so it is the patient where known, else the lesion, else the image, and never splits either).
    """
    if group_by not in GROUP_CHOICES:
        raise UserError(f"unknown grouping {group_by!r}; choose one of {', '.join(GROUP_CHOICES)}")
    ids = frame["image_id"].astype(str)
    if group_by == "image":
        return "i:" + ids
    if group_by in ("patient", "lesion"):
        column = frame[f"{group_by}_id"].fillna("").astype(str)
        return column.where(column != "", "i:" + ids).where(column == "", "g:" + column)
    return _connected_groups(frame)


def _connected_groups(frame: pd.DataFrame) -> pd.Series:
    """Union-find over rows linked by a shared non-empty patient id or lesion id."""
    parent = list(range(len(frame)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for column in ("patient_id", "lesion_id"):
        first: dict[str, int] = {}
        for row, value in enumerate(frame[column].fillna("").astype(str)):
            if not value:
                continue
            if value in first:
                parent[find(row)] = find(first[value])
            else:
                first[value] = row
    roots = [find(i) for i in range(len(frame))]
    ids = frame["image_id"].astype(str).tolist()
    return pd.Series([f"g:{ids[r]}" for r in roots], index=frame.index)


def _deal_groups(
    frame: pd.DataFrame, fractions: Sequence[float], seed: int, group_by: str
) -> np.ndarray:
    """Split number of every row: whole groups dealt greedily to keep class shares balanced."""
    if frame.empty:
        raise UserError("cannot split an empty index")
    # Work in image-id order so that the split depends on the index's content, not its row order.
    rows = np.argsort(frame["image_id"].astype(str).to_numpy(), kind="stable")
    codes = np.empty(len(frame), dtype=int)
    codes[rows] = _deal_sorted(frame.iloc[rows].reset_index(drop=True), fractions, seed, group_by)
    return codes


def _deal_sorted(
    frame: pd.DataFrame, fractions: Sequence[float], seed: int, group_by: str
) -> np.ndarray:
    keys = group_keys(frame, group_by)
    group_codes, _ = pd.factorize(keys)
    class_codes, _ = pd.factorize(frame["label"].astype(str))
    n_groups, n_classes = int(group_codes.max()) + 1, int(class_codes.max()) + 1
    if n_groups < len(fractions):
        raise UserError(f"only {n_groups} group(s): too few for {len(fractions)} splits")
    per_group = np.zeros((n_groups, n_classes))
    np.add.at(per_group, (group_codes, class_codes), 1.0)
    frac = np.asarray(fractions, dtype=float)
    weights = 1.0 / per_group.sum(axis=0)  # each class counts equally, rare ones included
    rng = np.random.default_rng(seed)
    order = rng.permutation(n_groups)
    order = order[np.argsort(-per_group[order].sum(axis=1), kind="stable")]
    counts = np.zeros((len(frac), n_classes))
    assigned = np.empty(n_groups, dtype=int)
    for g in order:
        trial = counts[None, :, :] + np.eye(len(frac))[:, :, None] * per_group[g][None, None, :]
        fill = trial / frac[None, :, None]  # (candidate, split, class)
        cost = (fill.std(axis=1) * weights).sum(axis=1)
        sizes = trial.sum(axis=2) / frac[None, :]
        cost += sizes.std(axis=1) / len(frame)
        best = int(np.argmin(cost))
        assigned[g] = best
        counts[best] += per_group[g]
    return assigned[group_codes]


def _check_fractions(fractions: Sequence[float]) -> tuple[float, ...]:
    values = tuple(float(f) for f in fractions)
    if len(values) not in HOLDOUT_NAMES:
        raise UserError(f"holdout takes 2 or 3 fractions (train val [test]), not {len(values)}")
    if any(f <= 0 for f in values) or abs(sum(values) - 1.0) > 1e-6:
        raise UserError(f"holdout fractions must be positive and sum to 1, not {list(values)}")
    return values


def split_holdout(
    frame: pd.DataFrame,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 42,
    group_by: str = "auto",
) -> dict[str, str]:
    """``image_id -> "train" | "val" | "test"`` (``test`` only with three fractions)."""
    values = _check_fractions(fractions)
    names = HOLDOUT_NAMES[len(values)]
    codes = _deal_groups(frame, values, seed, group_by)
    return dict(zip(frame["image_id"].astype(str), (names[c] for c in codes), strict=True))


def split_holdout_by_source(
    frame: pd.DataFrame,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 42,
    group_by: str = "auto",
) -> dict[str, str]:
    """A holdout split dealt within each source separately, keeping published splits.

    Images with an ``official_split`` (ISIC 2017's train / val / test) keep it; every other
    source is dealt on its own with the same fractions and seed, so a source's images get exactly
    the split they would get in an index of that source alone (HAM10000's test split stays
    HAM10000's test split when ISIC 2017 is merged in).
    """
    values = _check_fractions(fractions)
    names = HOLDOUT_NAMES[len(values)]
    official = frame["official_split"].fillna("").astype(str) if "official_split" in frame else None
    assignment: dict[str, str] = {}
    for source in sorted(set(frame["source"].fillna("").astype(str))):
        rows = frame[frame["source"].fillna("").astype(str) == source]
        if official is not None:
            published = official.loc[rows.index]
            unknown = sorted(set(published[published != ""]) - set(names))
            if unknown:
                raise UserError(
                    f"source {source or '(none)'!r}: official split(s) {', '.join(unknown)} are "
                    f"not among this split's names ({', '.join(names)})"
                )
            ids = rows.loc[published != "", "image_id"].astype(str)
            assignment.update(zip(ids, published[published != ""], strict=True))
            rows = rows[published == ""]
        if not rows.empty:
            assignment.update(split_holdout(rows, values, seed=seed, group_by=group_by))
    return assignment


def split_kfold(
    frame: pd.DataFrame, folds: int = 5, seed: int = 42, group_by: str = "auto"
) -> dict[str, str]:
    """``image_id -> "0" .. "k-1"``: stratified, grouped k-fold assignment."""
    if folds < 2:
        raise UserError(f"k-fold needs at least 2 folds, not {folds}")
    codes = _deal_groups(frame, [1.0 / folds] * folds, seed, group_by)
    return dict(zip(frame["image_id"].astype(str), (str(c) for c in codes), strict=True))


@dataclass(frozen=True)
class Split:
    """A split file's content."""

    scheme: str
    assignment: Mapping[str, str]
    seed: int
    group_by: str
    index_fingerprint: str
    fractions: tuple[float, ...] | None = None
    folds: int | None = None
    counts: Mapping[str, Mapping[str, int]] | None = None
    path: Path | None = None

    @property
    def names(self) -> tuple[str, ...]:
        """The split (or fold) names, in order."""
        if self.scheme == "kfold" and self.folds is not None:
            return tuple(str(k) for k in range(self.folds))
        return HOLDOUT_NAMES[len(self.fractions or (0.8, 0.1, 0.1))]


def split_counts(frame: pd.DataFrame, assignment: Mapping[str, str]) -> dict[str, dict[str, int]]:
    """Images per class in each split."""
    names = frame["image_id"].astype(str).map(assignment)
    table = pd.crosstab(names, frame["label"].astype(str))
    return {str(split): {str(c): int(n) for c, n in row.items()} for split, row in table.iterrows()}


def write_split(
    path: Path | str,
    frame: pd.DataFrame,
    assignment: Mapping[str, str],
    *,
    seed: int,
    group_by: str,
    fractions: Sequence[float] | None = None,
    folds: int | None = None,
    by_source: bool = False,
) -> Path:
    """Write the split file (JSON) atomically; ``folds`` given means k-fold, else holdout."""
    path = Path(path)
    missing = set(frame["image_id"].astype(str)) - set(assignment)
    if missing:
        raise UserError(f"{path}: {len(missing)} image(s) of the index have no split")
    record: dict[str, Any] = {
        "format": SPLIT_FORMAT,
        "scheme": "kfold" if folds is not None else "holdout",
        "fractions": list(fractions) if fractions is not None else None,
        "folds": folds,
        "seed": seed,
        "group_by": group_by,
        "by_source": by_source,
        "index_fingerprint": index_fingerprint(frame),
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "counts": split_counts(frame, assignment),
        "assignment": {i: assignment[i] for i in frame["image_id"].astype(str)},
    }
    write_json_atomic(path, record, indent=1)
    return path


def load_split(path: Path | str, frame: pd.DataFrame | None = None) -> Split:
    """Read a split file; with ``frame``, refuse it unless it was made from that index."""
    path = Path(path)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise UserError(f"{path}: split file not found") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: cannot read the split file ({type(exc).__name__})") from exc
    if not isinstance(record, dict) or record.get("format") != SPLIT_FORMAT:
        raise UserError(f"{path}: not a {SPLIT_FORMAT} split file")
    try:
        split = _split_from_record(record, path)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise UserError(f"{path}: malformed split file ({type(exc).__name__}: {exc})") from exc
    if frame is not None and index_fingerprint(frame) != split.index_fingerprint:
        raise UserError(
            f"{path}: this split was made from another index (fingerprint "
            f"{split.index_fingerprint[:12]}, index has {index_fingerprint(frame)[:12]})"
        )
    return split


def _split_from_record(record: dict[str, Any], path: Path) -> Split:
    return Split(
        scheme=str(record["scheme"]),
        assignment={str(k): str(v) for k, v in record["assignment"].items()},
        seed=int(record["seed"]),
        group_by=str(record["group_by"]),
        index_fingerprint=str(record["index_fingerprint"]),
        fractions=tuple(float(f) for f in record["fractions"]) if record.get("fractions") else None,
        folds=int(record["folds"]) if record.get("folds") is not None else None,
        counts=record.get("counts"),
        path=path,
    )


def subset(frame: pd.DataFrame, split: Split | Mapping[str, str], name: str) -> pd.DataFrame:
    """The rows of ``frame`` assigned to split (or fold) ``name``, index reset."""
    assignment = split.assignment if isinstance(split, Split) else split
    values = set(assignment.values())
    if name not in values:
        raise UserError(f"no split named {name!r}; this split has {', '.join(sorted(values))}")
    mask = frame["image_id"].astype(str).map(assignment) == name
    return frame.loc[mask.to_numpy()].reset_index(drop=True)


def kfold_train_val(
    frame: pd.DataFrame, split: Split | Mapping[str, str], fold: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(training rows, validation rows) for ``fold`` of a k-fold split."""
    assignment = split.assignment if isinstance(split, Split) else split
    mask = frame["image_id"].astype(str).map(assignment) == str(fold)
    if not mask.any():
        raise UserError(f"no fold {fold} in this split")
    val = frame.loc[mask.to_numpy()].reset_index(drop=True)
    return frame.loc[~mask.to_numpy()].reset_index(drop=True), val
