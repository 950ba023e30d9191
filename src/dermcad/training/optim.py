"""Optimizers and learning-rate schedules named by a recipe."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from dermcad.training.recipe import OptimizerSection, SchedulerSection


def build_optimizer(model: nn.Module, section: OptimizerSection) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if section.name == "sgd":
        return torch.optim.SGD(
            params,
            lr=section.lr,
            momentum=section.momentum,
            nesterov=section.nesterov and section.momentum > 0,
            weight_decay=section.weight_decay,
        )
    if section.name == "adam":
        return torch.optim.Adam(params, lr=section.lr, weight_decay=section.weight_decay)
    return torch.optim.AdamW(params, lr=section.lr, weight_decay=section.weight_decay)


def warmup_cosine_factor(
    step: int, total_steps: int, warmup_steps: int, warmup_factor: float, floor: float
) -> float:
    """LR factor: linear from ``warmup_factor`` to 1 in the warm-up, then cosine to ``floor``."""
    if warmup_steps > 0 and step < warmup_steps:
        return warmup_factor + (1.0 - warmup_factor) * step / warmup_steps
    span = max(total_steps - warmup_steps, 1)
    progress = min((step - warmup_steps) / span, 1.0)
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


class Schedule:
    """A torch scheduler and whether it steps per batch (warm-up) or per epoch (the thesis)."""

    def __init__(self, scheduler: Any, per_batch: bool) -> None:
        self.scheduler = scheduler
        self.per_batch = per_batch

    def after_batch(self) -> None:
        if self.scheduler is not None and self.per_batch:
            self.scheduler.step()

    def after_epoch(self) -> None:
        if self.scheduler is not None and not self.per_batch:
            self.scheduler.step()

    def state_dict(self) -> dict[str, Any]:
        return {} if self.scheduler is None else dict(self.scheduler.state_dict())

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.scheduler is not None and state:
            self.scheduler.load_state_dict(state)


def build_schedule(
    optimizer: torch.optim.Optimizer,
    section: SchedulerSection,
    *,
    epochs: int,
    batches_per_epoch: int,
    base_lr: float,
) -> Schedule:
    sched = torch.optim.lr_scheduler
    if section.name == "none":
        return Schedule(None, per_batch=False)
    if section.name == "step":
        return Schedule(sched.StepLR(optimizer, section.step_size, section.gamma), False)
    if section.name == "cosine":
        t_max = section.t_max or epochs
        return Schedule(sched.CosineAnnealingLR(optimizer, t_max, section.eta_min), False)
    if section.name == "cosine-warm-restarts":
        restarts = sched.CosineAnnealingWarmRestarts(
            optimizer, section.t_0, section.t_mult, section.eta_min
        )
        return Schedule(restarts, False)
    total = epochs * batches_per_epoch
    warmup = round(section.warmup_epochs * batches_per_epoch)
    floor = section.eta_min / base_lr

    def factor(step: int) -> float:
        return warmup_cosine_factor(step, total, warmup, section.warmup_factor, floor)

    return Schedule(sched.LambdaLR(optimizer, factor), per_batch=True)
