"""``train``: the training loop with checkpoints, early stopping, resume and the run directory."""

from __future__ import annotations

import math
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from dermcad import __version__
from dermcad.errors import UserError
from dermcad.evaluation.metrics import accuracy, roc_auc
from dermcad.inference import softmax
from dermcad.models import build_model, preprocess_spec_for
from dermcad.models.run import RUN_FORMAT, atomic_torch_save, atomic_write_bytes, atomic_write_json
from dermcad.taxonomy import TARGET_CLASS
from dermcad.training.data import class_counts, class_weights
from dermcad.training.history import plot_curves, read_history, write_history
from dermcad.training.loop import EpochSettings, Precision, predict_logits, train_epoch
from dermcad.training.optim import build_optimizer, build_schedule
from dermcad.training.recipe import Recipe, recipe_to_yaml
from dermcad.training.setup import (
    SplitFrames,
    choose_device,
    init_distributed,
    load_split_frames,
    make_loaders,
    make_tables,
    seed_everything,
)

Log = Callable[[str], None]


@dataclass(frozen=True)
class TrainResult:
    run_dir: Path
    best_epoch: int
    best_val_auc: float
    epochs_run: int
    seconds: float
    is_main: bool = True


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


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def _validation_scores(
    classes: tuple[str, ...], logits: np.ndarray, labels: np.ndarray
) -> tuple[float, float]:
    probs = softmax(logits)
    target = classes.index(TARGET_CLASS) if TARGET_CLASS in classes else 1
    positives = labels == target
    auc = roc_auc(positives, probs[:, target]) if 0 < positives.sum() < len(labels) else math.nan
    return auc, accuracy(labels, probs.argmax(axis=1))


def _rng_state() -> dict[str, Any]:
    # Only tensors: last.pt must load with weights_only=True.
    return {"torch": torch.get_rng_state()}


def _prepare_run_dir(run_dir: Path, resume: bool) -> None:
    if resume:
        if not (run_dir / "last.pt").is_file():
            raise UserError(f"cannot resume: {run_dir / 'last.pt'} does not exist")
    elif (run_dir / "run.json").exists():
        raise UserError(f"{run_dir} already holds a run; use --resume or another directory")
    run_dir.mkdir(parents=True, exist_ok=True)


@dataclass
class _State:
    epoch: int = 0
    best_auc: float = -math.inf
    best_epoch: int = 0
    since_best: int = 0


def train(
    recipe: Recipe,
    run_dir: Path | str,
    *,
    resume: bool = False,
    device: str | None = None,
    progress: bool = True,
    log: Log = print,
) -> TrainResult:
    """Train ``recipe`` into ``run_dir`` (see docs/training.md); only rank 0 writes."""
    run_dir = Path(run_dir)
    dist = init_distributed()
    if dist.is_main:
        _prepare_run_dir(run_dir, resume)
    torch_device = choose_device(device, dist)
    seed_everything(recipe.seed + dist.rank)
    frames = load_split_frames(recipe)
    spec = preprocess_spec_for(recipe.model.net_type, recipe.data.img_size)
    train_table, val_table = make_tables(recipe, frames, spec)
    train_loader, val_loader, dist_sampler = make_loaders(
        recipe, train_table, val_table, dist, pin=torch_device.type == "cuda"
    )
    model: nn.Module = build_model(recipe.model).to(torch_device)
    if recipe.channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = build_optimizer(model, recipe.optimizer)
    batches = len(train_loader)
    if recipe.max_batches_per_epoch:
        batches = min(batches, recipe.max_batches_per_epoch)
    schedule = build_schedule(
        optimizer,
        recipe.scheduler,
        epochs=recipe.epochs,
        batches_per_epoch=batches,
        base_lr=recipe.optimizer.lr,
    )
    precision = Precision.choose(recipe.amp, torch_device)
    weights = class_weights(train_table.labels, recipe.model.num_classes, recipe.loss.class_weights)
    loss_fn = nn.CrossEntropyLoss(
        weight=None if weights is None else weights.to(torch_device),
        label_smoothing=recipe.loss.label_smoothing,
    )
    eval_loss = nn.CrossEntropyLoss(weight=loss_fn.weight)
    state = _State()
    info = run_info(recipe, frames, spec.to_dict())
    history: list[dict[str, Any]] = []
    if resume:
        state, history, info = _restore(run_dir, model, optimizer, schedule, precision, info)
    elif dist.is_main:
        atomic_write_bytes(run_dir / "recipe.yaml", recipe_to_yaml(recipe).encode())
        atomic_write_json(run_dir / "run.json", info)
    if dist.enabled:
        model = nn.parallel.DistributedDataParallel(
            model, device_ids=[torch_device.index] if torch_device.type == "cuda" else None
        )
    settings = EpochSettings(
        torch_device,
        precision,
        recipe.grad_clip,
        recipe.max_batches_per_epoch,
        recipe.channels_last,
        progress and dist.is_main,
    )
    started = time.perf_counter() - (info.get("seconds") or 0.0)
    while state.epoch < recipe.epochs:
        epoch = state.epoch + 1
        if dist_sampler is not None:
            dist_sampler.set_epoch(epoch)
        tic = time.perf_counter()
        lr = optimizer.param_groups[0]["lr"]
        settings.description = f"epoch {epoch}/{recipe.epochs}"
        train_loss = train_epoch(model, train_loader, optimizer, schedule, loss_fn, settings)
        schedule.after_epoch()
        # Every rank validates on the whole validation split: identical decisions, no gather.
        val_loss, logits, labels = predict_logits(model, val_loader, eval_loss, settings)
        auc, acc = _validation_scores(recipe.model.classes, logits, labels)
        row = {
            "epoch": epoch,
            "lr": lr,
            "train_loss": train_loss,
            "val_loss": val_loss,
            "val_melanoma_auc": auc,
            "val_accuracy": acc,
            "seconds": round(time.perf_counter() - tic, 2),
        }
        history.append(row)
        improved = not math.isnan(auc) and auc > state.best_auc
        improved = improved or (state.best_epoch == 0 and math.isnan(auc))
        state.epoch = epoch
        if improved:
            state.best_auc, state.best_epoch, state.since_best = auc, epoch, 0
        else:
            state.since_best += 1
        if dist.is_main:
            info["seconds"] = round(time.perf_counter() - started, 1)
            _write_epoch(
                run_dir,
                _unwrap(model),
                optimizer,
                schedule,
                precision,
                state,
                history,
                info,
                improved,
            )
            log(
                f"epoch {epoch:3d}/{recipe.epochs}  lr {lr:.2e}  train_loss {train_loss:.4f}  "
                f"val_loss {val_loss:.4f}  val_melanoma_auc {auc:.4f}  val_acc {acc:.4f}  "
                f"{row['seconds']:.1f}s{'  *best' if improved else ''}"
            )
        if recipe.patience is not None and state.since_best >= recipe.patience:
            if dist.is_main:
                log(f"early stop: no better val melanoma AUC for {recipe.patience} epochs")
            break
    seconds = time.perf_counter() - started
    if dist.enabled:
        import torch.distributed as torch_dist

        torch_dist.destroy_process_group()
    return TrainResult(
        run_dir, state.best_epoch, state.best_auc, state.epoch, seconds, dist.is_main
    )


def _write_epoch(
    run_dir: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    schedule: Any,
    precision: Precision,
    state: _State,
    history: list[dict[str, Any]],
    info: dict[str, Any],
    improved: bool,
) -> None:
    weights = model.state_dict()
    if improved:
        atomic_torch_save(run_dir / "best.pt", {"model": weights, "epoch": state.epoch})
        info["best_epoch"] = state.epoch
        info["best_val_melanoma_auc"] = state.best_auc
    scaler = precision.scaler.state_dict() if precision.scaler is not None else {}
    atomic_torch_save(
        run_dir / "last.pt",
        {
            "model": weights,
            "optimizer": optimizer.state_dict(),
            "scheduler": schedule.state_dict(),
            "scaler": scaler,
            "epoch": state.epoch,
            "best_auc": state.best_auc,
            "best_epoch": state.best_epoch,
            "since_best": state.since_best,
            "rng": _rng_state(),
        },
    )
    write_history(run_dir / "history.csv", history)
    plot_curves(run_dir / "curves.png", history)
    atomic_write_json(run_dir / "run.json", info)


def _restore(
    run_dir: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    schedule: Any,
    precision: Precision,
    info: dict[str, Any],
) -> tuple[_State, list[dict[str, Any]], dict[str, Any]]:
    from dermcad.models.run import read_run_info

    checkpoint = torch.load(run_dir / "last.pt", map_location="cpu", weights_only=True)
    model.load_state_dict(checkpoint["model"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    schedule.load_state_dict(checkpoint["scheduler"])
    if precision.scaler is not None and checkpoint["scaler"]:
        precision.scaler.load_state_dict(checkpoint["scaler"])
    torch.set_rng_state(checkpoint["rng"]["torch"])
    state = _State(
        checkpoint["epoch"],
        checkpoint["best_auc"],
        checkpoint["best_epoch"],
        checkpoint["since_best"],
    )
    history: list[dict[str, Any]] = list(read_history(run_dir / "history.csv"))
    return state, history[: state.epoch], read_run_info(run_dir) or info
