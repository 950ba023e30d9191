"""Classification metrics as pure numpy functions.

Degenerate input has one defined answer: a metric that needs both classes (ROC AUC and its
relatives) returns NaN with an :class:`UndefinedMetricWarning` when only one is present; a rate
whose denominator is zero (PPV with no positive call) likewise. Never a crash, never a silent 0.5.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence

import numpy as np

Array = np.ndarray


class UndefinedMetricWarning(UserWarning):
    """A metric is undefined for this input (one class only, an empty denominator)."""


def _binary(y_true: Sequence[int] | Array, scores: Sequence[float] | Array) -> tuple[Array, Array]:
    y = np.asarray(y_true).astype(bool).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise ValueError(f"labels and scores differ in length: {y.shape} vs {s.shape}")
    if not np.all(np.isfinite(s)):
        raise ValueError("scores contain NaN or infinity")
    return y, s


def _both_classes(y: Array, name: str) -> bool:
    if y.all() or not y.any():
        warnings.warn(
            f"{name} is undefined when only one class is present; returning NaN",
            UndefinedMetricWarning,
            stacklevel=3,
        )
        return False
    return True


def _average_ranks(values: Array) -> Array:
    """1-based ranks; tied values share the mean of the ranks they span."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    starts = np.cumsum(counts) - counts
    return (starts + (counts + 1) / 2.0)[inverse.ravel()]


def roc_auc(y_true: Sequence[int] | Array, scores: Sequence[float] | Array) -> float:
    """Area under the ROC curve (Mann-Whitney U; ties count one half)."""
    y, s = _binary(y_true, scores)
    if not _both_classes(y, "ROC AUC"):
        return math.nan
    ranks = _average_ranks(s)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def roc_curve(
    y_true: Sequence[int] | Array, scores: Sequence[float] | Array
) -> tuple[Array, Array, Array]:
    """``(fpr, tpr, thresholds)`` from (0, 0) to (1, 1), one point per distinct score."""
    y, s = _binary(y_true, scores)
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tps = np.cumsum(y)[last].astype(np.float64)
    fps = (last + 1 - tps).astype(np.float64)
    n_pos, n_neg = max(tps[-1], 1.0), max(fps[-1], 1.0)
    fpr = np.r_[0.0, fps / n_neg]
    tpr = np.r_[0.0, tps / n_pos]
    thresholds = np.r_[np.inf, s[last]]
    return fpr, tpr, thresholds


def partial_auc_above_tpr(
    y_true: Sequence[int] | Array, scores: Sequence[float] | Array, min_tpr: float = 0.8
) -> float:
    """ISIC 2024's pAUC: the ROC area above ``TPR = min_tpr`` (range 0 to ``1 - min_tpr``)."""
    y, s = _binary(y_true, scores)
    if not _both_classes(y, "partial AUC"):
        return math.nan
    fpr, tpr, _ = roc_curve(y, s)
    total = 0.0
    for x0, x1, t0, t1 in zip(fpr[:-1], fpr[1:], tpr[:-1], tpr[1:], strict=True):
        if x1 == x0:
            continue
        h0, h1 = t0 - min_tpr, t1 - min_tpr
        if h0 >= 0 and h1 >= 0:
            total += (x1 - x0) * (h0 + h1) / 2.0
        elif h0 < 0 < h1 or h1 < 0 < h0:  # the segment crosses TPR = min_tpr
            positive = max(h0, h1)
            total += (x1 - x0) * positive / (abs(h1 - h0)) * positive / 2.0
    return float(total)


def confusion_matrix(
    y_true: Sequence[int] | Array, y_pred: Sequence[int] | Array, num_classes: int
) -> Array:
    """Counts ``[true, predicted]``, shape ``[num_classes, num_classes]``."""
    t, p = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (t, p), 1)
    return matrix


def accuracy(y_true: Sequence[int] | Array, y_pred: Sequence[int] | Array) -> float:
    t, p = np.asarray(y_true), np.asarray(y_pred)
    return float((t == p).mean()) if len(t) else math.nan


def balanced_accuracy(y_true: Sequence[int] | Array, y_pred: Sequence[int] | Array) -> float:
    """ISIC 2019's balanced multiclass accuracy: mean recall over the classes present."""
    t, p = np.asarray(y_true), np.asarray(y_pred)
    recalls = [float((p[t == c] == c).mean()) for c in np.unique(t)]
    return float(np.mean(recalls)) if recalls else math.nan


def one_vs_rest_aucs(y_true: Sequence[int] | Array, probs: Array) -> list[float]:
    """Per-class ROC AUC, class ``c`` against the rest (NaN for classes absent or alone)."""
    t = np.asarray(y_true)
    out = []
    for c in range(probs.shape[1]):
        positives = t == c
        if positives.all() or not positives.any():
            out.append(math.nan)
        else:
            out.append(roc_auc(positives, probs[:, c]))
    return out


def macro_auc(y_true: Sequence[int] | Array, probs: Array) -> float:
    """Mean one-vs-rest AUC over the classes present in ``y_true`` (with some negatives)."""
    values = [v for v in one_vs_rest_aucs(y_true, probs) if not math.isnan(v)]
    if not values:
        warnings.warn(
            "macro AUC is undefined: fewer than two classes", UndefinedMetricWarning, stacklevel=2
        )
        return math.nan
    return float(np.mean(values))


def _ratio(num: float, den: float, name: str) -> float:
    if den == 0:
        warnings.warn(
            f"{name} is undefined (zero denominator); returning NaN",
            UndefinedMetricWarning,
            stacklevel=3,
        )
        return math.nan
    return num / den


def rates_at_threshold(
    y_true: Sequence[int] | Array, scores: Sequence[float] | Array, threshold: float
) -> dict[str, float]:
    """Sensitivity, specificity, PPV and NPV of the call ``score >= threshold``."""
    y, s = _binary(y_true, scores)
    called = s >= threshold
    tp, fp = float((called & y).sum()), float((called & ~y).sum())
    fn, tn = float((~called & y).sum()), float((~called & ~y).sum())
    return {
        "sensitivity": _ratio(tp, tp + fn, "sensitivity"),
        "specificity": _ratio(tn, tn + fp, "specificity"),
        "ppv": _ratio(tp, tp + fp, "PPV"),
        "npv": _ratio(tn, tn + fn, "NPV"),
    }


def threshold_for_sensitivity(
    y_true: Sequence[int] | Array, scores: Sequence[float] | Array, min_sensitivity: float = 0.9
) -> float:
    """The highest threshold whose call ``score >= t`` reaches ``min_sensitivity``."""
    y, s = _binary(y_true, scores)
    if not 0 < min_sensitivity <= 1:
        raise ValueError(f"min_sensitivity must be in (0, 1], got {min_sensitivity}")
    positives = np.sort(s[y])[::-1]
    if len(positives) == 0:
        raise ValueError("no positive case: a sensitivity target cannot be met")
    needed = math.ceil(min_sensitivity * len(positives) - 1e-9)
    return float(positives[needed - 1])


def bootstrap_ci(
    metric: Callable[[Array, Array], float],
    y_true: Sequence[int] | Array,
    scores: Array,
    *,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval over images; resamples holding one class only are skipped.

    ``y_true`` is binary (a one-vs-rest metric) or class indices (a multiclass one): either way a
    resample needs at least two distinct labels. NaN, NaN when the input itself has one.
    """
    y = np.asarray(y_true)
    s = np.asarray(scores)
    if len(np.unique(y)) < 2:
        return (math.nan, math.nan)
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(n_boot):
        pick = rng.integers(0, len(y), len(y))
        sample = y[pick]
        if (sample == sample[0]).all():
            continue
        values.append(metric(sample, s[pick]))
    low, high = np.percentile(values, [(1 - level) / 2 * 100, (1 + level) / 2 * 100])
    return (float(low), float(high))


def expected_calibration_error(
    probs: Array, y_true: Sequence[int] | Array, n_bins: int = 15
) -> float:
    """Top-label ECE: mean |accuracy - confidence| over equal-width confidence bins, weighted."""
    p = np.asarray(probs, dtype=np.float64)
    t = np.asarray(y_true)
    confidence = p.max(axis=1)
    correct = (p.argmax(axis=1) == t).astype(np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bins = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        members = bins == b
        if members.any():
            ece += members.mean() * abs(correct[members].mean() - confidence[members].mean())
    return float(ece)
