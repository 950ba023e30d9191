"""The dataset index: one CSV row per image (docs/architecture.md, "Dataset index").

Every reader and ``merge`` produce a frame with :data:`INDEX_COLUMNS`, validated by
:func:`validate_index` and written atomically by :func:`write_index`, with its summary
(:func:`write_summary`) beside it. :func:`read_index` resolves relative paths against the index
file's folder, so an index and its images can move together.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import pandas as pd

from dermcad.atomic import write_json_atomic, write_text_atomic
from dermcad.errors import UserError
from dermcad.taxonomy import CLASSES_9

INDEX_COLUMNS: Final[tuple[str, ...]] = (
    "image_id",
    "path",
    "label",
    "label_idx",
    "source",
    "patient_id",
    "lesion_id",
    "sex",
    "age",
    "site",
    "diagnosis",
    "official_split",
)
"""The columns of a dataset index, in file order. ``official_split`` is the split a source
publishes for an image (ISIC 2017: train, val, test), kept by ``dermcad split --by-source``."""

REQUIRED_COLUMNS: Final[tuple[str, ...]] = ("image_id", "path", "label", "label_idx")
TEXT_COLUMNS: Final[tuple[str, ...]] = (
    "image_id",
    "path",
    "label",
    "source",
    "patient_id",
    "lesion_id",
    "sex",
    "site",
    "diagnosis",
    "official_split",
)
EXCLUSION_REASONS: Final[tuple[str, ...]] = (
    "excluded_diagnosis",
    "missing_file",
    "unreadable_image",
    "duplicate_id",
    "conflicting_label",
)


def normalize_index(frame: pd.DataFrame) -> pd.DataFrame:
    """Return ``frame`` with the standard columns, in order, and their types.

    Missing optional columns are added empty; text columns hold ``str`` ("" for missing), ``age``
    is float (NaN for missing) and ``label_idx`` int.
    """
    out = frame.copy()
    for column in INDEX_COLUMNS:
        if column not in out.columns:
            out[column] = float("nan") if column == "age" else ""
    out = out.loc[:, list(INDEX_COLUMNS)].reset_index(drop=True)
    for column in TEXT_COLUMNS:
        out[column] = out[column].fillna("").astype(str)
    out["age"] = pd.to_numeric(out["age"], errors="coerce").astype(float)
    out["label_idx"] = pd.to_numeric(out["label_idx"], errors="raise").astype(int)
    return out


def validate_index(frame: pd.DataFrame, where: str = "index") -> None:
    """Raise :class:`UserError` when ``frame`` breaks the index contract."""
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise UserError(f"{where}: missing required column(s) {', '.join(missing)}")
    if frame.empty:
        raise UserError(f"{where}: the index has no images")
    duplicated = frame["image_id"][frame["image_id"].duplicated()]
    if not duplicated.empty:
        raise UserError(f"{where}: image_id {duplicated.iloc[0]!r} appears more than once")
    labels = frame["label"].astype(str)
    unknown = sorted(set(labels) - set(CLASSES_9))
    if unknown:
        raise UserError(f"{where}: unknown class name(s) {', '.join(unknown)}")
    expected = labels.map(CLASSES_9.index)
    if not (expected.to_numpy() == frame["label_idx"].astype(int).to_numpy()).all():
        raise UserError(f"{where}: label_idx does not match label for some rows")


def index_fingerprint(frame: pd.DataFrame) -> str:
    """sha256 over the sorted ``(image_id, label)`` pairs; independent of paths and row order."""
    pairs = sorted(zip(frame["image_id"].astype(str), frame["label"].astype(str), strict=True))
    digest = hashlib.sha256()
    for image_id, label in pairs:
        digest.update(f"{image_id}\t{label}\n".encode())
    return digest.hexdigest()


def write_index(frame: pd.DataFrame, path: Path | str, *, relative_paths: bool = True) -> Path:
    """Validate ``frame`` and write it atomically as CSV to ``path``.

    With ``relative_paths`` (the default), image paths under the index's folder are stored
    relative to it; others stay absolute.
    """
    path = Path(path)
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise UserError(f"{path}: missing required column(s) {', '.join(missing)}")
    out = normalize_index(frame)
    validate_index(out, str(path))
    if relative_paths:
        base = path.resolve().parent
        out["path"] = [_relative_if_under(Path(p), base) for p in out["path"]]
    write_text_atomic(path, out.to_csv(index=False))
    return path


def _relative_if_under(image: Path, base: Path) -> str:
    image = image.resolve() if image.is_absolute() else image
    if image.is_absolute() and image.is_relative_to(base):
        return image.relative_to(base).as_posix()
    return str(image)


def read_index(path: Path | str) -> pd.DataFrame:
    """Read an index CSV; the ``path`` column comes back absolute.

    Raises :class:`UserError` naming the file when it is missing, unreadable or malformed.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: index file not found")
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise UserError(f"{path}: cannot read the index CSV ({type(exc).__name__})") from exc
    missing = [c for c in REQUIRED_COLUMNS if c not in raw.columns]
    if missing:
        raise UserError(f"{path}: missing required column(s) {', '.join(missing)}")
    try:
        frame = normalize_index(raw)
    except ValueError as exc:
        raise UserError(f"{path}: label_idx holds a value that is not an integer") from exc
    validate_index(frame, str(path))
    base = path.resolve().parent
    frame["path"] = [str(p) if Path(p).is_absolute() else str(base / p) for p in frame["path"]]
    return frame


def class_counts(frame: pd.DataFrame, classes: tuple[str, ...] | None = None) -> dict[str, int]:
    """Images per class, in taxonomy order (classes absent from ``frame`` count 0)."""
    names = classes if classes is not None else CLASSES_9
    counts = frame["label"].value_counts()
    present = [c for c in names if c != "unknown" or c in counts.index]
    return {name: int(counts.get(name, 0)) for name in present}


def summary_path(index_path: Path | str) -> Path:
    """``INDEX.summary.json`` beside ``INDEX.csv``."""
    index_path = Path(index_path)
    return index_path.with_name(f"{index_path.stem}.summary.json")


def make_summary(
    frame: pd.DataFrame,
    reasons: Mapping[str, int],
    *,
    source: str,
    details: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The summary written beside an index: counts per class and per exclusion reason."""
    return {
        "format": "dermcad-index-summary/1",
        "source": source,
        "n_images": len(frame),
        "fingerprint": index_fingerprint(frame),
        "classes": class_counts(frame),
        "excluded": {reason: int(reasons.get(reason, 0)) for reason in EXCLUSION_REASONS},
        "details": dict(details or {}),
    }


def write_summary(summary: Mapping[str, Any], index_path: Path | str) -> Path:
    """Write ``summary`` atomically as ``INDEX.summary.json``; return its path."""
    out = summary_path(index_path)
    write_json_atomic(out, summary)
    return out
