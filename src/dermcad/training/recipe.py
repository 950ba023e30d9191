"""Training recipes: YAML files validated by a typed schema, plus ``key.sub=value`` overrides."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from dermcad.errors import UserError, describe_errors
from dermcad.models.config import ModelConfig

OptimizerName = Literal["sgd", "adam", "adamw"]
SchedulerName = Literal["none", "step", "cosine", "cosine-warm-restarts", "warmup-cosine"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataSection(_Section):
    """Where the images come from and how they are fed."""

    index: Path | None = None
    split: Path | None = None
    fold: int | None = Field(default=None, ge=0, description="k-fold split: the validation fold")
    img_size: int | None = Field(default=None, ge=8, description="default: the backbone's")
    augment: Literal["none", "thesis", "light", "transfer"] = "none"
    color_constancy: Literal["none", "shades_of_gray"] = Field(
        default="none", description="part of the one preprocessing function; serving applies it too"
    )
    sampler: Literal["shuffle", "balanced", "sources", "sources-classes"] = "shuffle"
    cache_dir: Path | None = Field(default=None, description="pre-resized image cache")
    workers: int = Field(default=2, ge=0)


class OptimizerSection(_Section):
    name: OptimizerName = "sgd"
    lr: float = Field(default=1e-3, gt=0)
    momentum: float = Field(default=0.9, ge=0, lt=1)
    nesterov: bool = False
    weight_decay: float = Field(default=0.0, ge=0)


class SchedulerSection(_Section):
    """``step``: StepLR; ``cosine``: CosineAnnealingLR; ``cosine-warm-restarts``:
    CosineAnnealingWarmRestarts; ``warmup-cosine``: linear warm-up then cosine to ``eta_min``
    (stepped per batch). The others step once per epoch, as in the thesis."""

    name: SchedulerName = "none"
    step_size: int = Field(default=15, ge=1)
    gamma: float = Field(default=0.2, gt=0)
    t_max: int | None = Field(default=None, ge=1, description="default: the number of epochs")
    t_0: int = Field(default=5, ge=1)
    t_mult: int = Field(default=1, ge=1)
    eta_min: float = Field(default=0.0, ge=0)
    warmup_epochs: float = Field(default=1.0, ge=0)
    warmup_factor: float = Field(default=0.1, gt=0, le=1, description="start lr = lr * factor")


class LossSection(_Section):
    class_weights: Literal["none", "inverse", "sqrt-inverse"] = "none"
    label_smoothing: float = Field(default=0.0, ge=0, lt=1)


class Recipe(_Section):
    """One training run, every setting named. Unknown keys are an error."""

    name: str = "run"
    group: str = Field(default="", description="rows of `dermcad report` are grouped by it")
    description: str = ""
    model: ModelConfig = ModelConfig()
    data: DataSection = DataSection()
    optimizer: OptimizerSection = OptimizerSection()
    scheduler: SchedulerSection = SchedulerSection()
    loss: LossSection = LossSection()
    epochs: int = Field(default=20, ge=1)
    batch_size: int = Field(default=64, ge=1)
    eval_batch_size: int | None = Field(default=None, ge=1)
    patience: int | None = Field(default=None, ge=1, description="early stopping, in epochs")
    amp: Literal["none", "fp16", "bf16", "auto"] = "none"
    grad_clip: float | None = Field(default=None, gt=0)
    seed: int = 42
    channels_last: bool = False
    max_batches_per_epoch: int | None = Field(default=None, ge=1, description="for smoke tests")
    ema_decay: float | None = Field(
        default=None,
        gt=0,
        lt=1,
        description="keep an exponential moving average of the weights (updated every step, "
        "with warm-up); it is what is validated, saved as best.pt and exported",
    )

    @model_validator(mode="after")
    def _check(self) -> Recipe:
        if (
            self.data.sampler in ("balanced", "sources-classes")
            and self.loss.class_weights != "none"
        ):
            raise ValueError("use either a balanced sampler or class weights, not both")
        return self


def _parse_override(text: str) -> tuple[list[str], Any]:
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise UserError(f"override {text!r} is not KEY=VALUE (e.g. optimizer.lr=0.01)")
    return key.strip().split("."), yaml.safe_load(raw) if raw.strip() else None


def apply_overrides(data: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """``["optimizer.lr=3e-4", "model.head=multi_dropout"]`` applied to a recipe mapping."""
    out: dict[str, Any] = dict(data)
    for text in overrides:
        keys, value = _parse_override(text)
        node = out
        for key in keys[:-1]:
            child = node.get(key)
            node[key] = dict(child) if isinstance(child, dict) else {}
            node = node[key]
        node[keys[-1]] = value
    return out


def recipe_from_mapping(data: dict[str, Any], source: str) -> Recipe:
    try:
        return Recipe.model_validate(data)
    except ValidationError as exc:
        problems = describe_errors(exc.errors())
        raise UserError(f"{source}: invalid recipe: {problems}") from exc


def load_recipe(path: Path | str | None, overrides: Sequence[str] = ()) -> Recipe:
    """Read a recipe file (or the defaults when ``path`` is None) and apply overrides."""
    data: dict[str, Any] = {}
    source = "recipe"
    if path is not None:
        path = Path(path)
        source = str(path)
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise UserError(f"{path}: recipe file not found") from exc
        except (OSError, yaml.YAMLError) as exc:
            raise UserError(f"{path}: cannot read the recipe ({exc})") from exc
        if loaded is not None and not isinstance(loaded, dict):
            raise UserError(f"{path}: a recipe is a YAML mapping")
        data = loaded or {}
    return recipe_from_mapping(apply_overrides(data, overrides), source)


def recipe_to_yaml(recipe: Recipe) -> str:
    """The resolved recipe (every default filled in) as YAML."""
    return yaml.safe_dump(recipe.model_dump(mode="json"), sort_keys=False)
