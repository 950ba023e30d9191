"""Temperature scaling, fitted on validation logits through the one inference path. Pure numpy.

The logits of every TTA view are recorded once; for a candidate temperature the probabilities are
recomputed by :func:`dermcad.inference.predict_proba` itself (replaying the recorded logits), so
the fitted temperature means exactly what serving does with it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from dermcad.inference.tta import predict_proba


def replay_proba(view_logits: np.ndarray, temperature: float) -> np.ndarray:
    """``predict_proba`` over recorded per-view logits ``[V, N, C]`` (V = the TTA views)."""
    views: Iterator[np.ndarray] = iter(view_logits)

    def logits_fn(_batch: np.ndarray) -> np.ndarray:
        return next(views)

    placeholder = np.zeros((view_logits.shape[1], 1, 1, 1), dtype=np.float32)
    return predict_proba(logits_fn, placeholder, tta=len(view_logits), temperature=temperature)


def negative_log_likelihood(probs: np.ndarray, labels: np.ndarray) -> float:
    picked = probs[np.arange(len(labels)), labels]
    return float(-np.mean(np.log(np.clip(picked, 1e-12, 1.0))))


def fit_temperature(
    view_logits: np.ndarray, labels: np.ndarray, bounds: tuple[float, float] = (0.05, 20.0)
) -> float:
    """The temperature minimising the validation NLL (golden-section search over log T)."""
    labels = np.asarray(labels, dtype=np.int64)

    def loss(log_t: float) -> float:
        return negative_log_likelihood(replay_proba(view_logits, math.exp(log_t)), labels)

    low, high = math.log(bounds[0]), math.log(bounds[1])
    ratio = (math.sqrt(5.0) - 1.0) / 2.0
    a, b = high - ratio * (high - low), low + ratio * (high - low)
    fa, fb = loss(a), loss(b)
    for _ in range(60):
        if fa < fb:
            high, b, fb = b, a, fa
            a = high - ratio * (high - low)
            fa = loss(a)
        else:
            low, a, fa = a, b, fb
            b = low + ratio * (high - low)
            fb = loss(b)
    return float(math.exp((low + high) / 2.0))
