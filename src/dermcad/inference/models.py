"""The one entry that opens models: a configuration in, ``{exposed id: runner}`` out.

The API, the Celery workers, ``dermcad predict``, ``dermcad registry verify`` and export's parity
check all call :func:`open_models`, so every process opens a package the same way: sha256
checked, one ONNX Runtime (or OpenVINO) session per package, the same runtime options and batch
size. See docs/architecture.md.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from dermcad.inference.runner import ModelRunner
from dermcad.inference.runtime import RuntimeOptions
from dermcad.registry.exposure import (
    ExposedModel,
    ModelsFile,
    parse_models_list,
    read_models_file,
    resolve_exposed,
)
from dermcad.registry.store import open_package

if TYPE_CHECKING:
    from dermcad.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelsConfig:
    """Which models to open, from which registry, and how."""

    registry: Path
    models_config: Path | None = None
    models: tuple[str, ...] = ()
    default_model: str | None = None
    preferred_default: str | None = None
    package: str | None = None  # just this registry id, exposed under its own id
    runtime: RuntimeOptions = field(default_factory=RuntimeOptions)
    batch_size: int = 16

    @classmethod
    def from_settings(cls, settings: Settings) -> ModelsConfig:
        """The models a server or worker exposes (``DERMCAD_REGISTRY``, ``DERMCAD_MODELS``...)."""
        from dermcad.settings import SHIPPED_MODEL_ID

        return cls(
            registry=settings.registry,
            models_config=settings.models_config,
            models=tuple(settings.models),
            default_model=settings.default_model,
            preferred_default=SHIPPED_MODEL_ID,
            runtime=RuntimeOptions(
                intra_op_threads=settings.intra_op_threads(),
                providers=tuple(settings.onnx_providers),
            ),
            batch_size=settings.batch_size,
        )

    @classmethod
    def one_package(
        cls, folder: Path, runtime: RuntimeOptions | None = None, batch_size: int = 16
    ) -> ModelsConfig:
        """Just the package in ``folder`` (``<registry>/<id>``), exposed under its own id."""
        folder = folder.resolve()
        return cls(
            registry=folder.parent,
            package=folder.name,
            runtime=runtime or RuntimeOptions(),
            batch_size=batch_size,
        )


def exposed_models(config: ModelsConfig) -> list[ExposedModel]:
    """The models the configuration exposes, validated (raises :class:`UserError`); opens none."""
    if config.package is not None:
        package = open_package(config.registry, config.package)
        name = package.manifest.display_name or package.id
        return [ExposedModel(package.id, package, name, True)]
    models_file: ModelsFile | None = None
    if config.models_config is not None:
        models_file = read_models_file(config.models_config)
    elif config.models:
        models_file = parse_models_list(list(config.models))
    return resolve_exposed(
        config.registry, models_file, config.default_model, config.preferred_default
    )


def open_models(
    config: ModelsConfig, exposed: list[ExposedModel] | None = None
) -> dict[str, ModelRunner]:
    """A runner per exposed id; ids naming the same package share one session."""
    by_package: dict[Path, ModelRunner] = {}
    runners: dict[str, ModelRunner] = {}
    for model in exposed if exposed is not None else exposed_models(config):
        if model.package.path not in by_package:
            runner = ModelRunner.open(model.package, config.runtime, config.batch_size)
            if runner.guard is None:
                log.warning(
                    "model %s has no out-of-distribution guard: its results do not say whether "
                    "an image is dermoscopy (in_domain is null)",
                    model.package.id,
                )
            by_package[model.package.path] = runner
        runners[model.id] = by_package[model.package.path]
    return runners
