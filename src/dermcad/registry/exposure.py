"""Which published models a server exposes, and under which ids (runtime configuration).

As the thesis' ``conf.yml``: a YAML file (``DERMCAD_MODELS_CONFIG``) or a list in the environment
(``DERMCAD_MODELS="public-id=registry-id,other"``); with neither, every package in the registry is
exposed under its own id. Validated at start: every package must exist and pass its schema.

```yaml
default: ham10000-resnet18
models:
  - id: ham10000-resnet18          # the id clients use
    package: ham10000-resnet18-v3  # the registry id (defaults to id)
    display_name: ResNet18, HAM10000
```
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dermcad.errors import UserError, describe_errors
from dermcad.registry.manifest import MODEL_ID_PATTERN
from dermcad.registry.store import Package, list_ids, open_package


class ExposedEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=MODEL_ID_PATTERN)
    package: str | None = Field(default=None, pattern=MODEL_ID_PATTERN)
    display_name: str | None = None


class ModelsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    default: str | None = None
    models: list[ExposedEntry] = Field(min_length=1)


@dataclass(frozen=True)
class ExposedModel:
    id: str
    package: Package
    display_name: str
    default: bool


def parse_models_list(items: list[str]) -> ModelsFile:
    """``["public=package", "id"]`` -> a models file."""
    entries = []
    for item in items:
        public, _, package = item.partition("=")
        entries.append({"id": public.strip(), "package": package.strip() or None})
    return _validate({"models": entries}, "DERMCAD_MODELS")


def read_models_file(path: Path) -> ModelsFile:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise UserError(f"{path}: cannot read the models configuration: {exc}") from exc
    return _validate(data, str(path))


def _validate(data: object, source: str) -> ModelsFile:
    try:
        return ModelsFile.model_validate(data)
    except ValidationError as exc:
        problems = describe_errors(exc.errors())
        raise UserError(f"{source}: invalid models configuration: {problems}") from exc


def resolve_exposed(
    registry: Path,
    config: ModelsFile | None,
    default: str | None = None,
    preferred_default: str | None = None,
) -> list[ExposedModel]:
    """The exposed models, in order.

    The default model is ``default`` if given, else the configuration's, else
    ``preferred_default`` (the shipped model's id) when it is exposed, else the first.
    """
    if config is None:
        ids = list_ids(registry)
        if not ids:
            raise UserError(
                f"registry {registry} holds no models; publish one with `dermcad export` "
                "or point DERMCAD_REGISTRY at a registry"
            )
        config = ModelsFile(models=[ExposedEntry(id=i) for i in ids], default=default)
    public_ids = [entry.id for entry in config.models]
    preferred = preferred_default if preferred_default in public_ids else None
    chosen = default or config.default or preferred or public_ids[0]
    if len(set(public_ids)) != len(public_ids):
        raise UserError(f"models configuration: exposed ids repeat: {public_ids}")
    if chosen not in public_ids:
        raise UserError(f"default model {chosen!r} is not exposed (exposed: {public_ids})")
    exposed = []
    for entry in config.models:
        package = open_package(registry, entry.package or entry.id)
        name = entry.display_name or package.manifest.display_name or entry.id
        exposed.append(ExposedModel(entry.id, package, name, entry.id == chosen))
    return exposed
