"""Running one task's images through a model: the function every worker of every back end calls.

The embedded back end's threads and the distributed back end's Celery workers differ only in
where a task's images and class-activation maps are kept (a folder, or Redis); both hand those to
:func:`run_task` through :class:`TaskImages`, so the predictions cannot drift between them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PIL import Image

from dermcad.preprocess import to_array
from dermcad.serving.results import result_item
from dermcad.serving.runner import ModelRunner
from dermcad.tasks.base import TaskRecord

BatchDone = Callable[[int, int], None]  # (images done so far, images in this batch)


class TaskImages(Protocol):
    """Where one task's stored images are read and its heat-map arrays written."""

    def open(self, index: int) -> Image.Image:
        """The stored image ``index`` (``OSError`` or ``ValueError`` if it cannot be read)."""

    def save_cam(self, index: int, cam: np.ndarray) -> None:
        """Keep the class-activation map of image ``index``."""


class FolderImages:
    """A task's folder: ``<i>.png`` (the decoded upload) and ``<i>.cam.npy``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def open(self, index: int) -> Image.Image:
        return Image.open(self.folder / f"{index}.png")

    def save_cam(self, index: int, cam: np.ndarray) -> None:
        np.save(self.folder / f"{index}.cam.npy", cam, allow_pickle=False)


def run_task(
    record: TaskRecord,
    runner: ModelRunner,
    images: TaskImages,
    heatmap_url: str,
    on_batch: BatchDone | None = None,
    part: range | None = None,
) -> list[dict[str, Any]]:
    """The result items of the images of ``record`` (all, or those of ``part``), in upload
    order, batch by batch; ``on_batch`` gets the images done so far in this call."""
    whole = range(record.total) if part is None else part
    items: list[dict[str, Any]] = []
    for start in range(whole.start, whole.stop, runner.batch_size):
        stop = min(start + runner.batch_size, whole.stop)
        items.extend(run_batch(record, runner, images, range(start, stop), heatmap_url))
        if on_batch is not None:
            on_batch(stop - whole.start, stop - start)
    return items


def run_batch(
    record: TaskRecord,
    runner: ModelRunner,
    images: TaskImages,
    indices: range,
    heatmap_url: str,
) -> list[dict[str, Any]]:
    """One model call for the images ``indices``; an unreadable image gets an error item."""
    manifest = runner.manifest
    arrays: dict[int, np.ndarray] = {}
    errors: dict[int, str] = {}
    for i in indices:
        try:
            with images.open(i) as image:
                arrays[i] = to_array(image.convert("RGB"), manifest.spec)
        except (OSError, ValueError) as exc:
            errors[i] = f"stored image could not be read: {exc}"
    predictions = {}
    if arrays:
        order = sorted(arrays)
        batch = np.stack([arrays[i] for i in order])
        predictions = dict(zip(order, runner.predict(batch, record.tta), strict=True))
    items = []
    for i in indices:
        prediction = predictions.get(i)
        if prediction is not None and prediction.cam is not None:
            images.save_cam(i, prediction.cam)
        meta = record.images[i] if i < len(record.images) else {}
        items.append(
            result_item(
                name=str(meta.get("name", f"image_{i + 1}")),
                model_id=record.model_id,
                manifest=manifest,
                tta=record.tta,
                width=meta.get("width"),
                height=meta.get("height"),
                prediction=prediction,
                error=errors.get(i),
                heatmap_url=heatmap_url.format(task_id=record.id, index=i),
            )
        )
    return items
