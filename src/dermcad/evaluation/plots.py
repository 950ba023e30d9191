"""Evaluation figures (matplotlib, Agg backend): ROC curves, confusion matrix, reliability."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dermcad.atomic import atomic_writer
from dermcad.evaluation.metrics import roc_auc, roc_curve


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> None:
    plt = _pyplot()
    try:
        with atomic_writer(path) as handle:
            fig.savefig(handle, format="png", dpi=110)
    finally:
        plt.close(fig)


def plot_roc(
    path: Path, labels: np.ndarray, probs: np.ndarray, classes: Sequence[str], title: str
) -> None:
    """Melanoma-vs-rest ROC (bold) and every class's one-vs-rest ROC."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 6))
    for c, name in enumerate(classes):
        positives = labels == c
        if positives.all() or not positives.any():
            continue
        fpr, tpr, _ = roc_curve(positives, probs[:, c])
        bold = name == "melanoma"
        ax.plot(
            fpr,
            tpr,
            linewidth=2.5 if bold else 1.0,
            alpha=1.0 if bold else 0.6,
            label=f"{name} (AUC {roc_auc(positives, probs[:, c]):.3f})",
        )
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey")
    ax.set(xlabel="1 - specificity (FPR)", ylabel="sensitivity (TPR)", title=title)
    ax.legend(loc="lower right", fontsize=8)
    _save(fig, path)


def plot_confusion(path: Path, matrix: np.ndarray, classes: Sequence[str], title: str) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    rows = matrix.sum(axis=1, keepdims=True)
    normalised = np.divide(matrix, rows, out=np.zeros_like(matrix, dtype=float), where=rows > 0)
    ax.imshow(normalised, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(classes)):
        for j in range(len(classes)):
            colour = "white" if normalised[i, j] > 0.5 else "black"
            ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=8, color=colour)
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set(xlabel="predicted (decision rule)", ylabel="true", title=title)
    fig.tight_layout()
    _save(fig, path)


def reliability_points(
    probs: np.ndarray, labels: np.ndarray, n_bins: int = 10
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean confidence, accuracy and count per equal-width confidence bin (top label)."""
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    bins = np.clip((confidence * n_bins).astype(int), 0, n_bins - 1)
    conf, acc, count = np.zeros(n_bins), np.zeros(n_bins), np.zeros(n_bins)
    for b in range(n_bins):
        members = bins == b
        count[b] = members.sum()
        if members.any():
            conf[b], acc[b] = confidence[members].mean(), correct[members].mean()
    return conf, acc, count


def plot_reliability(
    path: Path, labels: np.ndarray, curves: dict[str, np.ndarray], title: str
) -> None:
    """Reliability diagram of one or more probability sets (e.g. before / after calibration)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 5.5))
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey", label="perfect calibration")
    for name, probs in curves.items():
        conf, acc, count = reliability_points(probs, labels)
        used = count > 0
        ax.plot(conf[used], acc[used], marker="o", label=name)
    ax.set(
        xlabel="confidence (top class)", ylabel="accuracy", title=title, xlim=(0, 1), ylim=(0, 1)
    )
    ax.legend(loc="upper left", fontsize=8)
    _save(fig, path)
