"""The work behind the routes: validating uploads, queueing tasks, waiting, shaping answers.

Routes stay thin: they parse the request, call one function here and return its answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections import deque
from collections.abc import Sequence
from typing import Any

from fastapi import HTTPException, UploadFile
from starlette.concurrency import run_in_threadpool

from dermcad.api.state import ServingState
from dermcad.inference.preprocess import ImageError, PreprocessSpec
from dermcad.inference.results import guard_metadata, result_item
from dermcad.inference.uploads import PreparedImage, prepare_uploaded_file, safe_label
from dermcad.registry.exposure import ExposedModel
from dermcad.registry.manifest import TTA_CHOICES
from dermcad.tasks.base import TaskRecord
from dermcad.units import human_bytes

#: The longest pause between two reads of a task's record when the back end cannot say when the
#: task finishes (the distributed one: its workers are other processes).
POLL_PAUSE_MAX = 0.1


async def validate_uploads(
    state: ServingState, files: Sequence[UploadFile], spec: PreprocessSpec
) -> list[PreparedImage]:
    """Read, decode and prepare the files, in order: what is kept of each is its model-ready
    pixels and a small display copy.

    Up to ``decode_window()`` files are decoded at the same time in worker threads (Pillow
    releases the GIL while it decodes and resizes), so at most that many files' bytes are in
    memory at once. Refuses too many files or one too large (413), and any file that is not a
    usable image (415, 413, 422, naming the file); the files after a refused one are dropped.
    """
    limits = state.settings
    if not files:
        raise HTTPException(422, "no image was uploaded")
    if len(files) > limits.max_files:
        raise HTTPException(413, f"{len(files)} files, more than the limit of {limits.max_files}")
    window = limits.decode_window()
    pending: deque[asyncio.Task[PreparedImage]] = deque()
    uploads: list[PreparedImage] = []
    try:
        for i, upload in enumerate(files):
            name = safe_label(upload.filename, i)
            data = await upload.read(limits.max_file_bytes + 1)
            if len(data) > limits.max_file_bytes:
                limit = human_bytes(limits.max_file_bytes)
                raise HTTPException(413, f"{name}: file larger than the limit of {limit}")
            pending.append(asyncio.create_task(_prepare(data, name, spec, state)))
            del data
            if len(pending) >= window:
                uploads.append(await _settled(pending.popleft()))
        while pending:
            uploads.append(await _settled(pending.popleft()))
    finally:
        for task in pending:  # a file was refused: the decodes still running are not wanted
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
    return uploads


async def _prepare(
    data: bytes, name: str, spec: PreprocessSpec, state: ServingState
) -> PreparedImage:
    limits = state.settings
    return await run_in_threadpool(
        prepare_uploaded_file,
        data,
        name,
        spec,
        max_bytes=limits.max_file_bytes,
        max_pixels=limits.max_pixels,
    )


async def _settled(task: asyncio.Task[PreparedImage]) -> PreparedImage:
    try:
        return await task
    except ImageError as exc:
        raise HTTPException(exc.status, str(exc)) from exc


async def submit(
    state: ServingState, model_id: str | None, files: Sequence[UploadFile], tta: int | None
) -> TaskRecord:
    """Validate every file, then store the task; nothing is queued if one file is refused."""
    if tta is not None and tta not in TTA_CHOICES:
        raise HTTPException(422, f"tta must be one of {', '.join(map(str, TTA_CHOICES))}")
    chosen, runner = state.resolve_model(model_id)
    uploads = await validate_uploads(state, files, runner.manifest.spec)
    views = tta if tta is not None else runner.manifest.tta
    return await run_in_threadpool(state.backend.submit, chosen, uploads, views)


async def wait_for(state: ServingState, task_id: str, wait: float | None) -> TaskRecord:
    """The record once finished, or after ``wait`` seconds (capped by the settings); 404.

    A back end that can tell when a task finishes (the embedded one) wakes this request at once;
    otherwise the record is read again after a short pause (at most :data:`POLL_PAUSE_MAX`).
    """
    limit = state.settings.from_task_wait
    budget = limit if wait is None else min(wait, limit)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + budget
    woken = asyncio.Event()

    def wake() -> None:  # called by the worker thread that finishes the task
        with contextlib.suppress(RuntimeError):  # the event loop has closed meanwhile
            loop.call_soon_threadsafe(woken.set)

    # Subscribed before the first read: a task finishing in between still wakes this request.
    unsubscribe = state.backend.on_finish(task_id, wake)
    pause = 0.01
    try:
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
            if unsubscribe is None:
                await asyncio.sleep(min(pause, remaining))
                pause = min(pause * 1.5, POLL_PAUSE_MAX)
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(woken.wait(), remaining)
    finally:
        if unsubscribe is not None:
            unsubscribe()


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
        "guard": guard_metadata(manifest),
    }


def full_manifest(model: ExposedModel) -> dict[str, Any]:
    return model.package.manifest.model_dump(mode="json")
