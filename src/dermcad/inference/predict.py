"""Offline batch prediction (``dermcad predict``): no server, the same items as the API."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from dermcad.atomic import write_bytes_atomic, write_text_atomic
from dermcad.errors import UserError
from dermcad.inference.heatmap import overlay_png
from dermcad.inference.preprocess import DEFAULT_MAX_PIXELS, ImageError, to_array
from dermcad.inference.results import csv_columns, flatten_item, result_item
from dermcad.inference.runner import ModelRunner
from dermcad.inference.uploads import Upload, decode_upload, display_jpeg

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
_NO_FILE_LIMIT = 1 << 40


def collect_images(inputs: Sequence[Path]) -> list[tuple[str, Path]]:
    """``(label, path)`` for image files and the images found (recursively) in folders."""
    found: list[tuple[str, Path]] = []
    for given in inputs:
        if given.is_dir():
            for path in sorted(given.rglob("*")):
                if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
                    found.append((path.relative_to(given).as_posix(), path))
        elif given.is_file():
            found.append((str(given), given))
        else:
            raise UserError(f"{given}: no such file or folder")
    if not found:
        raise UserError("no JPEG or PNG images found in " + ", ".join(map(str, inputs)))
    return found


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def predict_files(
    runner: ModelRunner,
    images: list[tuple[str, Path]],
    model_id: str,
    tta: int | None = None,
    heatmaps: Path | None = None,
) -> list[dict[str, Any]]:
    """One result item per image, in order; an unreadable image gets an item with its error.

    With ``heatmaps``, the overlay the API serves for image ``i`` is written to
    ``heatmaps/<i>.png`` (drawn on the same display copy) and the item's ``heatmap_url`` names it.
    """
    manifest = runner.manifest
    if heatmaps is not None and not runner.has_heatmaps:
        raise UserError(f"model {model_id!r} has no heat maps (its package has no classifier.npz)")
    views = manifest.tta if tta is None else tta
    items: list[dict[str, Any]] = []
    for chunk in _chunks(images, runner.batch_size):
        decoded: list[Upload | str] = []
        for label, path in chunk:
            try:
                decoded.append(
                    decode_upload(
                        path.read_bytes(),
                        label,
                        draft_size=manifest.img_size,
                        max_bytes=_NO_FILE_LIMIT,
                        max_pixels=DEFAULT_MAX_PIXELS,
                    )
                )
            except (ImageError, OSError) as exc:
                decoded.append(str(exc))
        good = [d for d in decoded if isinstance(d, Upload)]
        predictions = iter(
            runner.predict(np.stack([to_array(u.image, manifest.spec) for u in good]), views)
            if good
            else []
        )
        for (label, _), entry in zip(chunk, decoded, strict=True):
            common: dict[str, Any] = {"model_id": model_id, "manifest": manifest, "tta": views}
            if isinstance(entry, Upload):
                prediction = next(predictions)
                overlay = None
                if heatmaps is not None and prediction.cam is not None:
                    overlay = heatmaps / f"{len(items)}.png"
                    display = Image.open(io.BytesIO(display_jpeg(entry.image)))
                    write_bytes_atomic(overlay, overlay_png(display, prediction.cam))
                items.append(
                    result_item(
                        name=label,
                        width=entry.width,
                        height=entry.height,
                        prediction=prediction,
                        heatmap_url=None if overlay is None else str(overlay),
                        **common,
                    )
                )
            else:
                items.append(
                    result_item(name=label, width=None, height=None, error=entry, **common)
                )
    return items


def write_results_csv(items: list[dict[str, Any]], classes: list[str], out: Path) -> None:
    """Write the items as CSV, atomically (temporary file in the same folder, then rename)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=csv_columns(classes), lineterminator="\n")
    writer.writeheader()
    for item in items:
        writer.writerow(flatten_item(item, classes))
    write_text_atomic(out, buffer.getvalue())
