"""The endpoints: the thesis API (docs/api.md) and dermcad's additions (architecture.md)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Query, Response, UploadFile
from fastapi.responses import JSONResponse

from dermcad.api import service
from dermcad.api.schemas import (
    BulkTaskCreated,
    ErrorBody,
    Health,
    ModelCards,
    PublicModels,
    Readiness,
    ResultItem,
    TaskCreated,
    TaskInfo,
    TaskPending,
)
from dermcad.api.security import require_api_key
from dermcad.api.state import StateDep

ModelId = Annotated[
    str | None, Query(description="model id from /public_models (default: the default model)")
]
Tta = Annotated[
    int | None,
    Query(description="test-time augmentation views: 1, 4 or 8 (default: the model's)"),
]
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (401, 404, 413, 415, 422)
}

thesis = APIRouter(dependencies=[Depends(require_api_key)], responses=ERRORS)
extras = APIRouter(dependencies=[Depends(require_api_key)], responses=ERRORS)
probes = APIRouter()


@thesis.get("/public_models", response_model=PublicModels)
def public_models(state: StateDep) -> dict[str, Any]:
    """The ids of the models this server exposes."""
    return {"models": state.model_ids}


@thesis.post("/predict", response_model=TaskCreated)
async def predict(
    state: StateDep, file: Annotated[UploadFile, File()], model_id: ModelId = None, tta: Tta = None
) -> dict[str, Any]:
    """Queue one image (multipart field ``file``); answers the task id."""
    record = await service.submit(state, model_id, [file], tta)
    return {"task_uuid": record.id}


@thesis.post("/predict_bulk", response_model=BulkTaskCreated)
async def predict_bulk(
    state: StateDep,
    files: Annotated[list[UploadFile], File()],
    model_id: ModelId = None,
    tta: Tta = None,
) -> dict[str, Any]:
    """Queue several images (multipart field ``files``, repeated); answers the task id."""
    record = await service.submit(state, model_id, files, tta)
    return {"task_uuid": record.id, "num_images": record.total}


@thesis.get(
    "/from_task/{task_uuid}",
    response_model=list[ResultItem],
    responses={202: {"model": TaskPending, "description": "not finished yet"}},
)
async def from_task(
    state: StateDep,
    task_uuid: str,
    wait: Annotated[float | None, Query(ge=0, le=86400, description="seconds to wait")] = None,
) -> Any:
    """The results in upload order, waiting until the task is done (up to ``wait`` seconds)."""
    record = await service.wait_for(state, task_uuid, wait)
    if not record.finished:
        return JSONResponse(service.pending_view(record), status_code=202)
    return service.results(state, record)


@extras.get("/models", response_model=ModelCards)
def models(state: StateDep) -> dict[str, Any]:
    """A card per exposed model."""
    return {"models": [service.model_card(m) for m in state.exposed]}


@extras.get("/models/{model_id}")
def model_manifest(state: StateDep, model_id: str) -> dict[str, Any]:
    """The model's full manifest (``model.json``)."""
    return service.full_manifest(state.exposed_model(model_id))


@extras.get("/tasks/{task_id}", response_model=TaskInfo)
def task(state: StateDep, task_id: str) -> dict[str, Any]:
    """Status and progress of a task."""
    return service.task_view(service.get_task(state, task_id))


@extras.delete("/tasks/{task_id}", status_code=204)
def delete_task(state: StateDep, task_id: str) -> Response:
    """Delete a task, its images and its results."""
    service.get_task(state, task_id)
    state.backend.delete(task_id)
    return Response(status_code=204)


@extras.get(
    "/tasks/{task_id}/heatmaps/{index}.png",
    response_class=Response,
    responses={
        200: {"content": {"image/png": {}}},
        409: {"model": ErrorBody, "description": "the task is not finished yet"},
    },
)
def heatmap(state: StateDep, task_id: str, index: int) -> Response:
    """The class-activation map of image ``index`` (upload order) over the image, as PNG."""
    record = service.get_task(state, task_id)
    if not record.finished:
        return JSONResponse(
            {"detail": f"task {task_id} is not finished yet; its heat maps come with its results"},
            status_code=409,
        )
    png = state.backend.heatmap_png(task_id, index)
    if png is None:
        return JSONResponse(
            {"detail": f"no heat map for image {index} of task {task_id}"}, status_code=404
        )
    return Response(png, media_type="image/png")


@probes.get("/healthz", response_model=Health)
def healthz() -> dict[str, Any]:
    """Liveness."""
    return {"status": "ok"}


@probes.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
def readyz(state: StateDep) -> Any:
    """Readiness: models loaded and the queue running."""
    body = {
        "ready": bool(state.runners) and state.backend.running,
        "models": state.model_ids,
        "queue_running": state.backend.running,
    }
    return body if body["ready"] else JSONResponse(body, status_code=503)


@probes.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
def metrics(state: StateDep) -> Response:
    """Prometheus metrics."""
    return Response(state.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")
