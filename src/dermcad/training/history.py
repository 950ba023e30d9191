"""``history.csv`` (one row per epoch) and the training-curve PNG."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from dermcad.atomic import atomic_writer, write_text_atomic

HISTORY_COLUMNS: tuple[str, ...] = (
    "epoch",
    "lr",
    "train_loss",
    "val_loss",
    "val_melanoma_auc",
    "val_accuracy",
    "seconds",
)


def read_history(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    with path.open(encoding="utf-8", newline="") as handle:
        return [
            {k: int(v) if k == "epoch" else float(v) for k, v in row.items()}
            for row in csv.DictReader(handle)
        ]


def write_history(path: Path, rows: list[dict[str, Any]]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(HISTORY_COLUMNS), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: row[k] for k in HISTORY_COLUMNS})
    write_text_atomic(path, buffer.getvalue())


def plot_curves(path: Path, rows: list[dict[str, Any]]) -> None:
    """Losses (left) and validation melanoma AUC / accuracy (right) per epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(epochs, [r["train_loss"] for r in rows], marker="o", label="train loss")
    left.plot(epochs, [r["val_loss"] for r in rows], marker="o", label="val loss")
    left.set_xlabel("epoch")
    left.set_ylabel("cross-entropy")
    left.legend()
    right.plot(epochs, [r["val_melanoma_auc"] for r in rows], marker="o", label="val melanoma AUC")
    right.plot(epochs, [r["val_accuracy"] for r in rows], marker="o", label="val accuracy")
    right.set_xlabel("epoch")
    right.set_ylim(0, 1)
    right.legend()
    fig.tight_layout()
    try:
        with atomic_writer(path) as handle:
            fig.savefig(handle, format="png", dpi=100)
    finally:
        plt.close(fig)
