"""One epoch of training and one pass of validation."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from dermcad.training.optim import Schedule


@dataclass
class Precision:
    """Mixed precision: the autocast dtype (None = float32) and the fp16 gradient scaler."""

    device_type: str
    dtype: torch.dtype | None
    scaler: torch.amp.GradScaler | None

    @classmethod
    def choose(cls, amp: str, device: torch.device) -> Precision:
        kind = device.type
        if amp == "auto":  # bf16 needs no loss scaling; fp16 on older GPUs
            bf16 = kind == "cuda" and torch.cuda.is_bf16_supported()
            amp = "bf16" if bf16 else "fp16" if kind == "cuda" else "none"
        if amp == "none":
            return cls(kind, None, None)
        if amp == "fp16":
            if kind != "cuda":
                raise ValueError("fp16 mixed precision needs a CUDA device; use amp: bf16 on CPU")
            return cls(kind, torch.float16, torch.amp.GradScaler("cuda"))
        return cls(kind, torch.bfloat16, None)

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)


@dataclass
class EpochSettings:
    device: torch.device
    precision: Precision
    grad_clip: float | None
    max_batches: int | None
    channels_last: bool
    progress: bool
    description: str = ""


def _batches(
    loader: DataLoader[Any], settings: EpochSettings
) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    from tqdm import tqdm

    total = len(loader) if settings.max_batches is None else min(len(loader), settings.max_batches)
    bar = tqdm(
        loader,
        total=total,
        desc=settings.description,
        leave=False,
        disable=not settings.progress,
        dynamic_ncols=True,
    )
    for i, (images, labels, meta) in enumerate(bar):
        if i >= total:
            break
        memory = torch.channels_last if settings.channels_last else torch.contiguous_format
        yield (
            images.to(settings.device, non_blocking=True, memory_format=memory),
            labels.to(settings.device, non_blocking=True),
            meta.to(settings.device, non_blocking=True),
        )
    bar.close()


def _call(model: nn.Module, images: torch.Tensor, meta: torch.Tensor) -> torch.Tensor:
    return model(images, meta) if meta.shape[1] else model(images)  # type: ignore[no-any-return]


def train_epoch(
    model: nn.Module,
    loader: DataLoader[Any],
    optimizer: torch.optim.Optimizer,
    schedule: Schedule,
    loss_fn: nn.Module,
    settings: EpochSettings,
    after_step: Callable[[], None] | None = None,
) -> float:
    """Train for one epoch; the mean training loss. ``after_step`` runs after every optimizer
    step (the weight average's update)."""
    model.train()
    total, count = 0.0, 0
    scaler = settings.precision.scaler
    for images, labels, meta in _batches(loader, settings):
        optimizer.zero_grad(set_to_none=True)
        with settings.precision.autocast():
            loss = loss_fn(_call(model, images, meta).float(), labels)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"training loss became {loss.item()}; lower the learning rate")
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
        else:
            loss.backward()
        if settings.grad_clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        schedule.after_batch()
        if after_step is not None:
            after_step()
        total += float(loss.detach()) * len(labels)
        count += len(labels)
    return total / count if count else math.nan


@torch.no_grad()
def predict_logits(
    model: nn.Module, loader: DataLoader[Any], loss_fn: nn.Module, settings: EpochSettings
) -> tuple[float, np.ndarray, np.ndarray]:
    """``(mean loss, logits [N, C], labels [N])`` over a loader, in eval mode, one view."""
    model.eval()
    total, count = 0.0, 0
    logits_all: list[np.ndarray] = []
    labels_all: list[np.ndarray] = []
    whole = EpochSettings(**{**settings.__dict__, "max_batches": None})  # validate on all
    for images, labels, meta in _batches(loader, whole):
        with settings.precision.autocast():
            logits = _call(model, images, meta).float()
        total += float(loss_fn(logits, labels)) * len(labels)
        count += len(labels)
        logits_all.append(logits.cpu().numpy())
        labels_all.append(labels.cpu().numpy())
    return total / max(count, 1), np.concatenate(logits_all), np.concatenate(labels_all)
