"""Running one task's images through a model: the function every worker of every back end calls.

The embedded back end's threads and the distributed back end's Celery workers differ only in
where a task's images and class-activation maps are kept (a folder, or Redis); both hand those to
:func:`run_task` through :class:`TaskImages`, so the predictions cannot drift between them. What
is stored is the model-ready uint8 image (the resize step of the one preprocessing function, done
once at upload);
:func:`dermcad.inference.preprocess.to_array` normalises it without resizing it again.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PIL import Image

from dermcad.inference.preprocess import to_array
from dermcad.inference.results import result_item
from dermcad.inference.runner import ModelRunner
from dermcad.tasks.base import TaskRecord

BatchDone = Callable[[int, int], None]  # (images done so far, images in this batch)


class TaskImages(Protocol):
    """Where one task's stored images are read and its heat-map arrays written."""

    def model_input(self, index: int) -> np.ndarray:
        """The stored model-ready pixels of image ``index``, uint8 ``[S, S, 3]``
        (``OSError`` or ``ValueError`` if they cannot be read)."""

    def save_cam(self, index: int, cam: np.ndarray) -> None:
        """Keep the class-activation map of image ``index``."""


def check_pixels(pixels: np.ndarray) -> np.ndarray:
    """``pixels`` if it is a uint8 ``[H, W, 3]`` array, else ``ValueError``."""
    if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] != 3:
        raise ValueError(f"stored pixels are {pixels.dtype} {pixels.shape}, not uint8 [H, W, 3]")
    return pixels


class FolderImages:
    """A task's folder (see :mod:`dermcad.tasks.store`): ``<i>.input.npy`` (model-ready pixels),
    ``<i>.display.jpg`` (the display copy) and ``<i>.cam.npy`` (the heat-map array)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def model_input(self, index: int) -> np.ndarray:
        return check_pixels(np.load(self.folder / input_name(index), allow_pickle=False))

    def display(self, index: int) -> Image.Image:
        return Image.open(self.folder / display_name(index))

    def cam(self, index: int) -> np.ndarray | None:
        path = self.folder / cam_name(index)
        return np.load(path, allow_pickle=False) if path.is_file() else None

    def save_cam(self, index: int, cam: np.ndarray) -> None:
        np.save(self.folder / cam_name(index), cam, allow_pickle=False)


def input_name(index: int) -> str:
    return f"{index}.input.npy"


def display_name(index: int) -> str:
    return f"{index}.display.jpg"


def cam_name(index: int) -> str:
    return f"{index}.cam.npy"


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
            arrays[i] = to_array(images.model_input(i), manifest.spec)
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
