"""``create_app(settings)``: the FastAPI application. No module-level app, no global settings."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from starlette.concurrency import run_in_threadpool
from starlette.staticfiles import StaticFiles

from dermcad import INTENDED_USE, __version__
from dermcad.api.limits import BodySizeLimit
from dermcad.api.metrics import Metrics, MetricsMiddleware
from dermcad.api.routes import extras, probes, thesis
from dermcad.api.security import UploadKeyGate
from dermcad.api.state import ServingState
from dermcad.errors import describe_errors
from dermcad.inference.models import ModelsConfig, exposed_models, open_models
from dermcad.inference.preprocess import ImageError
from dermcad.settings import Settings
from dermcad.tasks.base import BackendUnavailableError, TaskBackend
from dermcad.tasks.embedded import EmbeddedBackend, EmbeddedConfig


def load_state(settings: Settings, metrics: Metrics) -> ServingState:
    """Open every exposed model once (sha256 checked) and start the embedded queue."""
    config = ModelsConfig.from_settings(settings)
    exposed = exposed_models(config)
    runners = open_models(config, exposed)
    backend: TaskBackend
    if settings.broker_url:  # the distributed back end: Celery workers over Redis
        from dermcad.tasks.distributed.backend import DistributedBackend
        from dermcad.tasks.distributed.config import DistributedConfig

        backend = DistributedBackend(DistributedConfig.from_settings(settings))
    else:
        backend = EmbeddedBackend(
            EmbeddedConfig(
                data_dir=settings.data_dir,
                workers=settings.workers,
                ttl_seconds=settings.ttl_seconds,
                sweep_seconds=min(60.0, max(0.5, settings.ttl_seconds / 4)),
            ),
            runners,
            observer=metrics.observe_images,
        )
    backend.start()
    return ServingState(settings, exposed, runners, backend, metrics)


def static_dir() -> Path | None:
    folder = Path(str(resources.files("dermcad.web") / "static"))
    return folder if folder.is_dir() else None


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse(
        {"detail": describe_errors(exc.errors()) or "invalid request"}, status_code=422
    )


async def _backend_error(request: Request, exc: Exception) -> JSONResponse:
    """The task back end refused: Redis unreachable or queue full (503), task too large (413)."""
    if isinstance(exc, ImageError):
        return JSONResponse({"detail": str(exc)}, status_code=exc.status)
    assert isinstance(exc, BackendUnavailableError)
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else None
    return JSONResponse({"detail": exc.reason}, status_code=503, headers=headers)


def _quiet_pillow() -> None:
    """Pillow's DEBUG records print image metadata (EXIF values, GPS included): never log them,
    not even from one of its plugins' loggers set to DEBUG on its own (a logger's own level wins
    over its parent's)."""
    pil = logging.getLogger("PIL")
    pil.setLevel(max(logging.INFO, pil.level))
    for name, logger in list(logging.root.manager.loggerDict.items()):
        own = logger.level if isinstance(logger, logging.Logger) else logging.NOTSET
        if name.startswith("PIL.") and logging.NOTSET < own < logging.INFO:
            logger.setLevel(logging.INFO)  # type: ignore[union-attr]


def create_app(settings: Settings) -> FastAPI:
    """The API and web UI for ``settings``; models load and workers start in the lifespan."""

    def queue_depth() -> float:
        state = getattr(app.state, "serving", None)
        return float(state.backend.queue_depth()) if state is not None else 0.0

    def image_totals() -> dict[str, float]:
        state = getattr(app.state, "serving", None)
        totals = getattr(state.backend, "images_classified", None) if state is not None else None
        return dict(totals()) if totals is not None else {}

    metrics = Metrics(queue_depth, image_totals if settings.broker_url else None)
    _quiet_pillow()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = await run_in_threadpool(load_state, settings, metrics)
        app.state.serving = state
        try:
            yield
        finally:
            app.state.serving = None
            await run_in_threadpool(state.backend.stop)

    # /docs and /redoc load Swagger UI and ReDoc from the installed package: they work offline.
    app = FastAPIOffline(
        title="dermcad",
        version=__version__,
        description=(
            "Melanoma computer-aided diagnosis on dermoscopy images; a compatible superset of the "
            f"thesis API. {INTENDED_USE}"
        ),
        lifespan=lifespan,
    )
    app.state.serving = None
    app.state.settings = settings
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(BackendUnavailableError, _backend_error)
    app.add_exception_handler(ImageError, _backend_error)
    app.include_router(thesis)
    app.include_router(extras)
    app.include_router(probes)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_bytes)
    if settings.api_keys:  # inside CORS, so that a browser can read the 401
        app.add_middleware(UploadKeyGate, keys=settings.api_keys)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    folder = static_dir()
    if folder is not None:
        app.mount("/", StaticFiles(directory=folder, html=True), name="web")
    return app
