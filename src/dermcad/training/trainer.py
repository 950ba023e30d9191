"""``train``: the epoch loop with validation, checkpoints, early stopping and resume."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dermcad.evaluation.metrics import accuracy, roc_auc
from dermcad.inference.tta import softmax
from dermcad.taxonomy import TARGET_CLASS
from dermcad.training.checkpoint import save_epoch
from dermcad.training.loop import predict_logits, train_epoch
from dermcad.training.recipe import Recipe
from dermcad.training.session import Session, open_session

Log = Callable[[str], None]


@dataclass(frozen=True)
class TrainResult:
    run_dir: Path
    best_epoch: int
    best_val_auc: float
    epochs_run: int
    seconds: float
    is_main: bool = True


def _validation_scores(
    classes: tuple[str, ...], logits: np.ndarray, labels: np.ndarray
) -> tuple[float, float]:
    probs = softmax(logits)
    target = classes.index(TARGET_CLASS)
    positives = labels == target
    auc = roc_auc(positives, probs[:, target]) if 0 < positives.sum() < len(labels) else math.nan
    return auc, accuracy(labels, probs.argmax(axis=1))


def _run_epoch(session: Session, epoch: int) -> dict[str, Any]:
    """Train one epoch, then validate on the whole validation split: the history row."""
    if session.dist_sampler is not None:
        session.dist_sampler.set_epoch(epoch)
    tic = time.perf_counter()
    lr = session.optimizer.param_groups[0]["lr"]
    session.settings.description = f"epoch {epoch}/{session.recipe.epochs}"
    ema = session.ema
    train_loss = train_epoch(
        session.model,
        session.train_loader,
        session.optimizer,
        session.schedule,
        session.loss_fn,
        session.settings,
        after_step=None if ema is None else lambda: ema.update(session.plain_model),
    )
    session.schedule.after_epoch()
    # Every rank validates on the whole validation split: identical decisions, no gather.
    # With a weight average, the average is what is validated (and kept as best.pt).
    judged = session.model if ema is None else ema.module
    val_loss, logits, labels = predict_logits(
        judged, session.val_loader, session.eval_loss, session.settings
    )
    auc, acc = _validation_scores(session.recipe.model.classes, logits, labels)
    return {
        "epoch": epoch,
        "lr": lr,
        "train_loss": train_loss,
        "val_loss": val_loss,
        "val_melanoma_auc": auc,
        "val_accuracy": acc,
        "seconds": round(time.perf_counter() - tic, 2),
    }


def _record(session: Session, row: dict[str, Any]) -> bool:
    """Add the row to the progress; whether the validation melanoma AUC improved."""
    progress, auc = session.progress, row["val_melanoma_auc"]
    progress.history.append(row)
    progress.epoch = row["epoch"]
    improved = (not math.isnan(auc) and auc > progress.best_auc) or (
        progress.best_epoch == 0 and math.isnan(auc)
    )
    if improved:
        progress.best_auc, progress.best_epoch, progress.since_best = auc, row["epoch"], 0
    else:
        progress.since_best += 1
    return improved


def _epoch_line(row: dict[str, Any], epochs: int, improved: bool) -> str:
    return (
        f"epoch {row['epoch']:3d}/{epochs}  lr {row['lr']:.2e}  "
        f"train_loss {row['train_loss']:.4f}  val_loss {row['val_loss']:.4f}  "
        f"val_melanoma_auc {row['val_melanoma_auc']:.4f}  val_acc {row['val_accuracy']:.4f}  "
        f"{row['seconds']:.1f}s{'  *best' if improved else ''}"
    )


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
    session = open_session(recipe, Path(run_dir), resume=resume, device=device, progress=progress)
    state, main = session.progress, session.dist.is_main
    started = time.perf_counter() - (session.info.get("seconds") or 0.0)
    while state.epoch < recipe.epochs:
        row = _run_epoch(session, state.epoch + 1)
        improved = _record(session, row)
        if main:
            session.info["seconds"] = round(time.perf_counter() - started, 1)
            save_epoch(
                session.run_dir,
                session.plain_model,
                session.optimizer,
                session.schedule,
                session.precision,
                state,
                session.info,
                improved,
                session.ema,
            )
            log(_epoch_line(row, recipe.epochs, improved))
        if recipe.patience is not None and state.since_best >= recipe.patience:
            if main:
                log(f"early stop: no better val melanoma AUC for {recipe.patience} epochs")
            break
    if session.dist.enabled:
        import torch.distributed as torch_dist

        torch_dist.destroy_process_group()
    return TrainResult(
        session.run_dir,
        state.best_epoch,
        state.best_auc,
        state.epoch,
        time.perf_counter() - started,
        main,
    )
