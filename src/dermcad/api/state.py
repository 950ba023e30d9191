"""What a running app holds: its settings, the exposed models, their runners and the task queue."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from dermcad.api.metrics import Metrics
from dermcad.inference.runner import ModelRunner
from dermcad.registry.exposure import ExposedModel
from dermcad.settings import Settings
from dermcad.tasks.base import TaskBackend


@dataclass
class ServingState:
    settings: Settings
    exposed: list[ExposedModel]
    runners: dict[str, ModelRunner]
    backend: TaskBackend
    metrics: Metrics

    @property
    def model_ids(self) -> list[str]:
        return [model.id for model in self.exposed]

    @property
    def default_model_id(self) -> str:
        return next(m.id for m in self.exposed if m.default)

    def resolve_model(self, model_id: str | None) -> tuple[str, ModelRunner]:
        """The model asked for (or the default); 404 listing the models if unknown."""
        chosen = model_id if model_id else self.default_model_id
        runner = self.runners.get(chosen)
        if runner is None:
            raise HTTPException(
                404, f"unknown model {chosen!r}; models: {', '.join(self.model_ids)}"
            )
        return chosen, runner

    def exposed_model(self, model_id: str) -> ExposedModel:
        for model in self.exposed:
            if model.id == model_id:
                return model
        raise HTTPException(404, f"unknown model {model_id!r}; models: {', '.join(self.model_ids)}")


def get_state(request: Request) -> ServingState:
    state = getattr(request.app.state, "serving", None)
    if state is None:
        raise HTTPException(503, "the server is starting")
    assert isinstance(state, ServingState)
    return state


StateDep = Annotated[ServingState, Depends(get_state)]
