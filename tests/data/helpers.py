"""Small source files written by the tests, with the real formats' column names."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path

from PIL import Image


def write_jpegs(folder: Path, names: Iterable[str], size: int = 8) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        Image.new("RGB", (size, size), (i * 20 % 255, 80, 120)).save(folder / f"{name}.jpg")


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path
