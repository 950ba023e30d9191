"""What a run directory holds between epochs: ``run.json``, checkpoints, history, curves."""

from __future__ import annotations

import math
import platform
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dermcad import __version__
from dermcad.atomic import write_json_atomic
from dermcad.errors import UserError
from dermcad.models.run import RUN_FORMAT, atomic_torch_save, read_run_info
from dermcad.training.data import class_counts
from dermcad.training.ema import WeightAverage
from dermcad.training.history import plot_curves, read_history, write_history
from dermcad.training.loop import Precision
from dermcad.training.optim import Schedule
from dermcad.training.recipe import Recipe
from dermcad.training.setup import SplitFrames


@dataclass
class Progress:
    """The training state that early stopping and ``--resume`` need."""

    epoch: int = 0
    best_auc: float = -math.inf
    best_epoch: int = 0
    since_best: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)


def _versions() -> dict[str, str]:
    import timm

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "timm": timm.__version__,
        "dermcad": __version__,
    }


def _counts(frames: SplitFrames, classes: tuple[str, ...]) -> dict[str, dict[str, int]]:
    out = {}
    for name, frame in (("train", frames.train), ("val", frames.val)):
        counts = class_counts([int(v) for v in frame["label_idx"]], len(classes))
        out[name] = {c: int(n) for c, n in zip(classes, counts, strict=True)}
    return out


def run_info(recipe: Recipe, frames: SplitFrames, spec_dict: dict[str, Any]) -> dict[str, Any]:
    """The ``run.json`` of a new run (architecture.md); best epoch and seconds come later."""
    return {
        "format": RUN_FORMAT,
        "name": recipe.name,
        "model": recipe.model.model_dump(mode="json"),
        "preprocess": spec_dict,
        "index": {"path": str(frames.index_path.resolve()), "fingerprint": frames.fingerprint},
        "split": {
            "path": str(frames.split_path.resolve()),
            "scheme": frames.scheme,
            "fold": recipe.data.fold,
        },
        "dataset": {"counts": _counts(frames, recipe.model.classes), "excluded": frames.dropped},
        "versions": _versions(),
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "best_epoch": None,
        "seconds": None,
    }


def save_epoch(
    run_dir: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    schedule: Schedule,
    precision: Precision,
    progress: Progress,
    info: dict[str, Any],
    improved: bool,
    ema: WeightAverage | None = None,
) -> None:
    """After an epoch: ``best.pt`` (if improved; the weight average when there is one),
    ``last.pt``, history, curves, ``run.json``."""
    weights = model.state_dict()
    if improved:
        best = weights if ema is None else ema.module.state_dict()
        atomic_torch_save(run_dir / "best.pt", {"model": best, "epoch": progress.epoch})
        info["best_epoch"] = progress.epoch
        info["best_val_melanoma_auc"] = progress.best_auc
    scaler = precision.scaler.state_dict() if precision.scaler is not None else {}
    atomic_torch_save(
        run_dir / "last.pt",
        {
            "model": weights,
            "optimizer": optimizer.state_dict(),
            "scheduler": schedule.state_dict(),
            "scaler": scaler,
            "epoch": progress.epoch,
            "best_auc": progress.best_auc,
            "best_epoch": progress.best_epoch,
            "since_best": progress.since_best,
            "ema": {} if ema is None else ema.state_dict(),
            # Only tensors: last.pt must load with weights_only=True.
            "rng": {"torch": torch.get_rng_state()},
        },
    )
    write_history(run_dir / "history.csv", progress.history)
    plot_curves(run_dir / "curves.png", progress.history)
    write_json_atomic(run_dir / "run.json", info)


def restore(
    run_dir: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    schedule: Schedule,
    precision: Precision,
    ema: WeightAverage | None = None,
) -> tuple[Progress, dict[str, Any]]:
    """Load ``last.pt`` into the model, optimizer, schedule, scaler and weight average; the
    progress and info."""
    checkpoint = torch.load(run_dir / "last.pt", map_location="cpu", weights_only=True)
    model.load_state_dict(checkpoint["model"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    schedule.load_state_dict(checkpoint["scheduler"])
    if precision.scaler is not None and checkpoint["scaler"]:
        precision.scaler.load_state_dict(checkpoint["scaler"])
    if ema is not None:
        if not checkpoint.get("ema"):
            raise UserError(f"{run_dir / 'last.pt'}: no weight average to resume (ema_decay)")
        ema.load_state_dict(checkpoint["ema"])
    torch.set_rng_state(checkpoint["rng"]["torch"])
    epoch = int(checkpoint["epoch"])
    progress = Progress(
        epoch,
        float(checkpoint["best_auc"]),
        int(checkpoint["best_epoch"]),
        int(checkpoint["since_best"]),
        read_history(run_dir / "history.csv")[:epoch],
    )
    return progress, read_run_info(run_dir)
