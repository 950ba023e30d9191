"""The one inference path: test-time augmentation, calibrated probabilities and the decision.

Everything that turns model logits into what a user sees goes through here, whatever runs the
network: a torch module during evaluation and export checks, an ONNX Runtime session in the CLI,
the API and the workers. A *logits function* maps a preprocessed float32 ``[N, 3, S, S]`` batch to
``[N, C]`` logits; :func:`predict_proba` adds the dihedral TTA views and temperature scaling;
:func:`decide` applies the one decision rule (:mod:`dermcad.decision`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from dermcad.decision import DecisionRule
from dermcad.registry.manifest import TTA_CHOICES

LogitsFn = Callable[[np.ndarray], np.ndarray]


def dihedral_view(batch: np.ndarray, k: int) -> np.ndarray:
    """View ``k`` (0..7) of the dihedral group D4 of an NCHW batch of square images.

    0 identity, 1 horizontal flip, 2 vertical flip, 3 both (180 degree rotation); 4..7 are the
    same four after a transpose of height and width.
    """
    if not 0 <= k < 8:
        raise ValueError(f"dihedral view index must be in 0..7, got {k}")
    view = batch.transpose(0, 1, 3, 2) if k >= 4 else batch
    if k % 4 in (1, 3):
        view = view[..., ::-1]
    if k % 4 in (2, 3):
        view = view[..., ::-1, :]
    return np.ascontiguousarray(view)


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of ``logits / temperature``, computed stably in float64."""
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    scaled = np.asarray(logits, dtype=np.float64) / temperature
    scaled -= scaled.max(axis=1, keepdims=True)
    exp = np.exp(scaled)
    result: np.ndarray = exp / exp.sum(axis=1, keepdims=True)
    return result


def predict_proba(
    logits_fn: LogitsFn,
    batch: np.ndarray,
    *,
    tta: int = 1,
    temperature: float = 1.0,
) -> np.ndarray:
    """Class probabilities ``[N, C]``: the mean over ``tta`` dihedral views of the calibrated
    softmax."""
    if tta not in TTA_CHOICES:
        raise ValueError(f"tta must be one of {TTA_CHOICES}, got {tta}")
    if batch.ndim != 4 or batch.shape[2] != batch.shape[3]:
        raise ValueError(f"expected a square NCHW batch, got shape {batch.shape}")
    if len(batch) == 0:
        raise ValueError("empty batch")
    total: np.ndarray | None = None
    for k in range(tta):
        probs = softmax(logits_fn(dihedral_view(batch, k)), temperature)
        total = probs if total is None else total + probs
    assert total is not None
    return total / tta


@dataclass(frozen=True)
class Decision:
    """What the API calls ``prediction``: the flag, the class index and its name."""

    target: bool
    label: int
    prediction: str
    melanoma_probability: float


def decide(probabilities: Sequence[float] | np.ndarray, rule: DecisionRule) -> Decision:
    """One image's decision under the model's :class:`~dermcad.decision.DecisionRule`."""
    probs = np.asarray(probabilities, dtype=np.float64)
    if probs.shape != (len(rule.classes),):
        raise ValueError(f"expected {len(rule.classes)} probabilities, got shape {probs.shape}")
    label = int(rule.labels(probs[None, :])[0])
    return Decision(
        target=bool(rule.flags(probs[None, :])[0]),
        label=label,
        prediction=rule.classes[label],
        melanoma_probability=float(probs[rule.target_index]),
    )
