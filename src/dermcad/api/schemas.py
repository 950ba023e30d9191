"""Response bodies of the API (documented in the OpenAPI schema at ``/docs``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel


class PublicModels(BaseModel):
    models: list[str]


class TaskCreated(BaseModel):
    task_uuid: str


class BulkTaskCreated(BaseModel):
    task_uuid: str
    num_images: int


class Progress(BaseModel):
    done: int
    total: int


class TaskPending(BaseModel):
    task_uuid: str
    status: Literal["queued", "running", "done", "failed"]
    progress: Progress


class TaskInfo(BaseModel):
    task_uuid: str
    model_id: str
    status: Literal["queued", "running", "done", "failed"]
    progress: Progress
    created: str
    updated: str
    error: str | None


class Decision(BaseModel):
    target: bool
    label: int
    prediction: str


class ModelMetadata(BaseModel):
    origin: str
    net_type: str
    img_size: int
    out_dim: int


class ResultItem(BaseModel):
    """One image of ``/from_task``: the thesis fields, then dermcad's additions."""

    name: str
    probabilities: dict[str, float] | None
    metadata: ModelMetadata | dict[str, Any]
    prediction: Decision | None
    model_id: str
    melanoma_probability: float | None
    threshold: float
    tta: int
    width: int | None
    height: int | None
    heatmap_url: str | None
    heatmap_class: str | None  # the class the heat map is drawn for (melanoma)
    error: str | None
    # The out-of-distribution guard: null when the model has none (or the image failed).
    in_domain: bool | None = None
    ood_score: float | None = None
    ood_reason: str | None = None


class GuardCard(BaseModel):
    method: str
    threshold: float
    pass_rate: float
    fitted_on: str


class ModelCard(BaseModel):
    id: str
    display_name: str
    net_type: str
    img_size: int
    classes: list[str]
    threshold: float
    operating_point: str
    test_melanoma_auc: float | None
    default: bool
    precision: str
    has_heatmaps: bool
    guard: GuardCard | None = None  # null: the model has no out-of-distribution guard


class ModelCards(BaseModel):
    models: list[ModelCard]


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    ready: bool
    models: list[str]
    queue_running: bool


class ErrorBody(BaseModel):
    detail: str
