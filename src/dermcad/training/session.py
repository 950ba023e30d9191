"""A training session: every object one run needs, built from its recipe."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler

from dermcad.atomic import write_json_atomic, write_text_atomic
from dermcad.errors import UserError
from dermcad.inference.preprocess import PreprocessSpec
from dermcad.models import build_model, preprocess_spec_for
from dermcad.training.checkpoint import Progress, restore, run_info
from dermcad.training.data import class_weights
from dermcad.training.ema import WeightAverage
from dermcad.training.loop import EpochSettings, Precision
from dermcad.training.optim import Schedule, build_optimizer, build_schedule
from dermcad.training.recipe import Recipe, recipe_to_yaml
from dermcad.training.setup import (
    Dist,
    choose_device,
    init_distributed,
    load_split_frames,
    make_loaders,
    make_tables,
    seed_everything,
)


@dataclass
class Session:
    recipe: Recipe
    run_dir: Path
    dist: Dist
    train_loader: DataLoader[Any]
    val_loader: DataLoader[Any]
    dist_sampler: DistributedSampler[Any] | None
    model: nn.Module  # wrapped in DistributedDataParallel with several processes
    optimizer: torch.optim.Optimizer
    schedule: Schedule
    precision: Precision
    loss_fn: nn.Module
    eval_loss: nn.Module
    settings: EpochSettings
    info: dict[str, Any]
    progress: Progress
    ema: WeightAverage | None = None

    @property
    def plain_model(self) -> nn.Module:
        model = self.model
        return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def recipe_spec(recipe: Recipe) -> PreprocessSpec:
    """The run's preprocessing: the backbone's, at the recipe's size, with its colour constancy."""
    spec = preprocess_spec_for(recipe.model.net_type, recipe.data.img_size)
    return replace(spec, color_constancy=recipe.data.color_constancy)


def _prepare_run_dir(run_dir: Path, resume: bool) -> None:
    if resume:
        if not (run_dir / "last.pt").is_file():
            raise UserError(f"cannot resume: {run_dir / 'last.pt'} does not exist")
    elif (run_dir / "run.json").exists():
        raise UserError(f"{run_dir} already holds a run; use --resume or another directory")
    run_dir.mkdir(parents=True, exist_ok=True)


def _losses(recipe: Recipe, labels: list[int], device: torch.device) -> tuple[nn.Module, nn.Module]:
    weights = class_weights(labels, recipe.model.num_classes, recipe.loss.class_weights)
    weight = None if weights is None else weights.to(device)
    train_loss = nn.CrossEntropyLoss(weight=weight, label_smoothing=recipe.loss.label_smoothing)
    return train_loss, nn.CrossEntropyLoss(weight=weight)


def _model_and_optimizer(
    recipe: Recipe, device: torch.device, batches_per_epoch: int
) -> tuple[nn.Module, torch.optim.Optimizer, Schedule]:
    model: nn.Module = build_model(recipe.model).to(device)
    if recipe.channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = build_optimizer(model, recipe.optimizer)
    schedule = build_schedule(
        optimizer,
        recipe.scheduler,
        epochs=recipe.epochs,
        batches_per_epoch=batches_per_epoch,
        base_lr=recipe.optimizer.lr,
    )
    return model, optimizer, schedule


def open_session(
    recipe: Recipe, run_dir: Path, *, resume: bool, device: str | None, progress: bool
) -> Session:
    """Data, model, optimizer, schedule, losses; restored from ``last.pt`` with ``resume``."""
    dist = init_distributed()
    if dist.is_main:
        _prepare_run_dir(run_dir, resume)
    torch_device = choose_device(device, dist)
    seed_everything(recipe.seed + dist.rank)
    frames = load_split_frames(recipe)
    spec = recipe_spec(recipe)
    train_table, val_table = make_tables(recipe, frames, spec)
    pin = torch_device.type == "cuda"
    train_loader, val_loader, sampler = make_loaders(recipe, train_table, val_table, dist, pin)
    batches = min(len(train_loader), recipe.max_batches_per_epoch or len(train_loader))
    model, optimizer, schedule = _model_and_optimizer(recipe, torch_device, batches)
    precision = Precision.choose(recipe.amp, torch_device)
    loss_fn, eval_loss = _losses(recipe, train_table.labels, torch_device)
    info, state = run_info(recipe, frames, spec.to_dict()), Progress()
    ema = None if recipe.ema_decay is None else WeightAverage(model, recipe.ema_decay)
    if resume:
        state, info = restore(run_dir, model, optimizer, schedule, precision, ema)
    elif dist.is_main:
        write_text_atomic(run_dir / "recipe.yaml", recipe_to_yaml(recipe))
        write_json_atomic(run_dir / "run.json", info)
    if dist.enabled:
        ids = [torch_device.index] if torch_device.type == "cuda" else None
        model = nn.parallel.DistributedDataParallel(model, device_ids=ids)
    settings = EpochSettings(
        torch_device,
        precision,
        recipe.grad_clip,
        recipe.max_batches_per_epoch,
        recipe.channels_last,
        progress and dist.is_main,
    )
    return Session(
        recipe,
        run_dir,
        dist,
        train_loader,
        val_loader,
        sampler,
        model,
        optimizer,
        schedule,
        precision,
        loss_fn,
        eval_loss,
        settings,
        info,
        state,
        ema,
    )
