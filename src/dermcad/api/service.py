"""The work behind the routes: validating uploads, queueing tasks, waiting, shaping answers.

Routes stay thin: they parse the request, call one function here and return its answer.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from typing import Any

from fastapi import HTTPException, UploadFile
from starlette.concurrency import run_in_threadpool

from dermcad.api.state import ServingState
from dermcad.inference import TTA_CHOICES
from dermcad.preprocess import ImageError
from dermcad.registry.exposure import ExposedModel
from dermcad.serving.results import result_item
from dermcad.serving.uploads import Upload, decode_upload, safe_label
from dermcad.tasks.base import TaskRecord


async def validate_uploads(
    state: ServingState, files: Sequence[UploadFile], draft_size: int
) -> list[Upload]:
    """Read and decode the files one at a time (only one file's bytes in memory at once).

    Refuses too many files or one too large (413), and any file that is not a usable image
    (415, 413, 422, naming the file).
    """
    limits = state.settings
    if not files:
        raise HTTPException(422, "no image was uploaded")
    if len(files) > limits.max_files:
        raise HTTPException(413, f"{len(files)} files, more than the limit of {limits.max_files}")
    uploads: list[Upload] = []
    for i, upload in enumerate(files):
        name = safe_label(upload.filename, i)
        data = await upload.read(limits.max_file_bytes + 1)
        if len(data) > limits.max_file_bytes:
            raise HTTPException(
                413, f"{name}: file larger than the limit of {limits.max_file_bytes} bytes"
            )
        try:
            decoded = await run_in_threadpool(
                decode_upload,
                data,
                name,
                draft_size=draft_size,
                max_bytes=limits.max_file_bytes,
                max_pixels=limits.max_pixels,
            )
        except ImageError as exc:
            raise HTTPException(exc.status, str(exc)) from exc
        uploads.append(decoded)
        del data
    return uploads


async def submit(
    state: ServingState, model_id: str | None, files: Sequence[UploadFile], tta: int | None
) -> TaskRecord:
    """Validate every file, then store the task; nothing is queued if one file is refused."""
    if tta is not None and tta not in TTA_CHOICES:
        raise HTTPException(422, f"tta must be one of {', '.join(map(str, TTA_CHOICES))}")
    chosen, runner = state.resolve_model(model_id)
    uploads = await validate_uploads(state, files, runner.manifest.img_size)
    views = tta if tta is not None else runner.manifest.tta
    return await run_in_threadpool(state.backend.submit, chosen, uploads, views)


async def wait_for(state: ServingState, task_id: str, wait: float | None) -> TaskRecord:
    """The record once finished, or after ``wait`` seconds (capped by the settings); 404."""
    limit = state.settings.from_task_wait
    budget = limit if wait is None else min(wait, limit)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + budget
    pause = 0.01
    while True:
        # A distributed back end reads Redis: never block the event loop on it.
        record = await run_in_threadpool(state.backend.get, task_id)
        if record is None:
            raise HTTPException(
                404, f"unknown task {task_id!r} (never created, deleted or expired)"
            )
        remaining = deadline - loop.time()
        if record.finished or remaining <= 0:
            return record
        await asyncio.sleep(min(pause, remaining))
        pause = min(pause * 1.5, 0.25)


def get_task(state: ServingState, task_id: str) -> TaskRecord:
    record = state.backend.get(task_id)
    if record is None:
        raise HTTPException(404, f"unknown task {task_id!r} (never created, deleted or expired)")
    return record


def results(state: ServingState, record: TaskRecord) -> list[dict[str, Any]]:
    """The items of a finished task; a failed task gives one error item per image."""
    if record.results is not None:
        return record.results
    runner = state.runners.get(record.model_id)
    if runner is None:
        return []
    reason = record.error or "the task failed"
    return [
        result_item(
            name=str(image.get("name", f"image_{i + 1}")),
            model_id=record.model_id,
            manifest=runner.manifest,
            tta=record.tta,
            width=image.get("width"),
            height=image.get("height"),
            error=reason,
        )
        for i, image in enumerate(record.images)
    ]


def _iso(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).isoformat(timespec="seconds")


def pending_view(record: TaskRecord) -> dict[str, Any]:
    return {
        "task_uuid": record.id,
        "status": record.status,
        "progress": {"done": record.done, "total": record.total},
    }


def task_view(record: TaskRecord) -> dict[str, Any]:
    return {
        **pending_view(record),
        "model_id": record.model_id,
        "created": _iso(record.created),
        "updated": _iso(record.updated),
        "error": record.error,
    }


def model_card(model: ExposedModel) -> dict[str, Any]:
    manifest = model.package.manifest
    test = manifest.metrics.get("test")
    return {
        "id": model.id,
        "display_name": model.display_name,
        "net_type": manifest.net_type,
        "img_size": manifest.img_size,
        "classes": list(manifest.classes),
        "threshold": manifest.threshold,
        "operating_point": manifest.calibration.operating_point,
        "test_melanoma_auc": test.melanoma_auc if test is not None else None,
        "default": model.default,
        "precision": manifest.precision,
        "has_heatmaps": manifest.has_heatmaps,
    }


def full_manifest(model: ExposedModel) -> dict[str, Any]:
    return model.package.manifest.model_dump(mode="json")
