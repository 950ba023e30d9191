"""What every reader shares: reading source CSVs, finding image files, counting problems.

A reader turns its format into *candidate rows* (``image_id``, ``label`` or None when excluded,
``diagnosis`` and the metadata columns) and hands them to :func:`finish`, which drops and counts
excluded diagnoses, duplicate ids, conflicting labels, missing files and unreadable images, and
returns an :class:`IngestResult` whose frame follows the index schema.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import pandas as pd
from PIL import Image, UnidentifiedImageError

from dermcad.data.index import EXCLUSION_REASONS, normalize_index
from dermcad.errors import UserError
from dermcad.taxonomy import CLASSES_9

IMAGE_SUFFIXES: Final[frozenset[str]] = frozenset({".jpg", ".jpeg", ".png"})
PROBLEM_REASONS: Final[tuple[str, ...]] = EXCLUSION_REASONS[1:]  # all but excluded_diagnosis
_EXAMPLES: Final = 10


@dataclass
class IngestResult:
    """A reader's output: the index rows and what was left out, by reason."""

    frame: pd.DataFrame
    source: str
    reasons: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def note(self, reason: str, ids: Iterable[str], count: int | None = None) -> None:
        ids = list(ids)
        self.reasons[reason] += len(ids) if count is None else count
        kept = self.examples.setdefault(reason, [])
        kept.extend(ids[: _EXAMPLES - len(kept)])

    @property
    def problems(self) -> int:
        """Missing, unreadable, duplicate and conflicting images (not excluded diagnoses)."""
        return sum(self.reasons[r] for r in PROBLEM_REASONS)


def read_source_csv(path: Path, required: Sequence[str], what: str) -> pd.DataFrame:
    """Read a source CSV as text ("" for empty cells); a clear UserError for every failure."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: {what} not found")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except (UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise UserError(f"{path}: cannot read {what} as CSV ({type(exc).__name__})") from exc
    except pd.errors.EmptyDataError as exc:
        raise UserError(f"{path}: {what} is empty") from exc
    except OSError as exc:
        raise UserError(f"{path}: cannot read {what} ({exc.strerror or exc})") from exc
    frame.columns = [str(c).strip().lstrip("\ufeff") for c in frame.columns]
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise UserError(f"{path}: {what} lacks required column(s) {', '.join(missing)}")
    if frame.empty:
        raise UserError(f"{path}: {what} has no rows")
    return frame


def require_dir(path: Path, what: str) -> Path:
    path = Path(path)
    if not path.is_dir():
        raise UserError(f"{path}: {what} folder not found")
    return path


def find_images(folder: Path) -> dict[str, Path]:
    """Image files under ``folder`` (recursively) by file stem; the first found wins."""
    found: dict[str, Path] = {}
    for path in sorted(folder.rglob("*")):
        if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
            found.setdefault(path.stem, path.resolve())
    return found


def is_readable(path: Path, verify: bool = False) -> bool:
    """Does ``path`` open as an image? Reads the header only unless ``verify`` (full decode)."""
    try:
        with Image.open(path) as image:
            if verify:
                image.load()
            return image.width > 0 and image.height > 0
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError):
        return False


def base_isic_id(name: str) -> str:
    """``ISIC_0000001_downsampled`` -> ``ISIC_0000001``; other names unchanged."""
    name = name.strip()
    return name.removesuffix("_downsampled")


def column(table: pd.DataFrame, name: str) -> pd.Series:
    """``table[name]`` stripped, or empty strings when the optional column is absent."""
    if name not in table.columns:
        return pd.Series("", index=table.index, dtype=str)
    return table[name].astype(str).str.strip()


def ages(values: pd.Series) -> pd.Series:
    return pd.to_numeric(values, errors="coerce").astype(float)


def fill_from(result: IngestResult, meta: pd.DataFrame, ids: pd.Series) -> None:
    """Fill ``result.frame``'s columns from ``meta`` (rows keyed by ``ids``; first row wins)."""
    meta = meta.set_axis(ids.to_numpy())
    meta = meta[~meta.index.duplicated(keep="first")]
    frame = result.frame
    for name in meta.columns:
        values = frame["image_id"].map(meta[name])
        frame[name] = values.where(values.notna(), frame[name])
    result.frame = frame


def clean_sex(value: str) -> str:
    value = value.strip().casefold()
    return value if value in ("male", "female") else ""


def clean_text(value: str) -> str:
    value = value.strip()
    return "" if value.casefold() in ("unknown", "nan", "none", "na") else value


def _drop_duplicates(rows: pd.DataFrame, result: IngestResult) -> pd.DataFrame:
    ids = rows["image_id"]
    repeated = rows[ids.duplicated(keep=False)]
    if repeated.empty:
        return rows
    labels = repeated.groupby("image_id")["label"].nunique(dropna=False)
    conflicting = labels[labels > 1].index
    if len(conflicting):
        result.note("conflicting_label", [str(i) for i in conflicting])
    same = repeated[~repeated["image_id"].isin(conflicting)]
    extra = same[same["image_id"].duplicated(keep="first")]
    if not extra.empty:
        result.note("duplicate_id", [str(i) for i in extra["image_id"]])
    keep = ~ids.isin(conflicting) & ~(ids.duplicated(keep="first") & ids.isin(same["image_id"]))
    return rows[keep]


def finish(
    rows: pd.DataFrame,
    source: str,
    images: dict[str, Path],
    *,
    verify_images: bool = False,
) -> IngestResult:
    """Turn candidate rows into index rows, counting every image left out by reason.

    ``images`` maps image ids (file stems) to paths.
    """
    result = IngestResult(frame=rows.iloc[0:0], source=source)
    excluded = rows["label"].isna()
    result.note("excluded_diagnosis", rows.loc[excluded, "image_id"].astype(str))
    rows = _drop_duplicates(rows[~excluded], result)
    paths = rows["image_id"].map(images)
    missing = paths.isna()
    result.note("missing_file", rows.loc[missing, "image_id"].astype(str))
    rows = rows[~missing].assign(path=paths[~missing].astype(str))
    readable = rows["path"].map(lambda p: is_readable(Path(p), verify_images)).astype(bool)
    result.note("unreadable_image", rows.loc[~readable, "image_id"].astype(str))
    rows = rows[readable].assign(source=source)
    rows = rows.assign(label_idx=rows["label"].map(CLASSES_9.index))
    result.frame = normalize_index(rows)
    return result


def summary_details(result: IngestResult, inputs: dict[str, Any]) -> dict[str, Any]:
    """The ``details`` block of a summary: inputs and example ids per reason."""
    return {"inputs": inputs, "examples": {k: v for k, v in result.examples.items() if v}}
