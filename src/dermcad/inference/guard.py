"""The out-of-distribution guard: is an image within what the model was trained on?

Computed from what the network already outputs for the identity view (no second model, no extra
pass): the feature map ``features`` [N, F, h, w], average-pooled, and the ``logits``.

- ``mahalanobis`` (Lee et al., NeurIPS 2018): the smallest distance of the pooled features to a
  class mean of the training split, under one covariance shared by the classes. The pooled
  features are power- and L2-normalised first (signed square root, then unit length: Perronnin et
  al., ECCV 2010), which separated non-dermoscopy images far better on the validation protocol of
  docs/models.md. The covariance is
  stored as its top ``k`` principal directions plus one isotropic residual variance (the
  probabilistic-PCA covariance of Tipping and Bishop, 1999): a full ``F x F`` precision matrix
  would not be well estimated from a few thousand images and would weigh megabytes.
- ``energy`` (Liu et al., NeurIPS 2020): ``-logsumexp(logits)``.

Higher scores lie further from the training data; an image is *in domain* when its score is at most
the threshold stored in the manifest (chosen so that a named share of validation images pass).
The arrays live in ``guard.npz`` beside ``model.onnx``, listed with its sha256 in the manifest.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

import numpy as np

from dermcad.errors import UserError

GuardMethod = Literal["mahalanobis", "energy"]
GUARD_METHODS: tuple[str, ...] = ("mahalanobis", "energy")
#: The reason an out-of-domain item gives (the API, the CSV, the printed report and the web UI).
OUT_OF_DOMAIN_REASON = "not recognised as a dermoscopy image: no melanoma assessment"


def pooled(features: np.ndarray) -> np.ndarray:
    """Global average pooling of an ``[N, F, h, w]`` feature map into ``[N, F]`` (float64)."""
    if features.ndim != 4:
        raise ValueError(f"expected an [N, F, h, w] feature map, got shape {features.shape}")
    result: np.ndarray = np.asarray(features, dtype=np.float64).mean(axis=(2, 3))
    return result


def embed(pooled_features: np.ndarray) -> np.ndarray:
    """Signed square root, then unit L2 norm, per row (what the Mahalanobis guard measures)."""
    values = np.asarray(pooled_features, dtype=np.float64)
    rooted = np.sign(values) * np.sqrt(np.abs(values))
    norms = np.linalg.norm(rooted, axis=1, keepdims=True)
    result: np.ndarray = rooted / np.maximum(norms, 1e-12)
    return result


def energy_score(logits: np.ndarray) -> np.ndarray:
    """``-logsumexp(logits)`` per row: higher for images the classifier knows less."""
    values = np.asarray(logits, dtype=np.float64)
    peak = values.max(axis=1)
    result: np.ndarray = -(peak + np.log(np.exp(values - peak[:, None]).sum(axis=1)))
    return result


@dataclass(frozen=True)
class GuardArrays:
    """What ``guard.npz`` holds for the Mahalanobis score (empty arrays for ``energy``)."""

    means: np.ndarray  # [C', F] class means of the training features (classes with images)
    components: np.ndarray  # [F, k] top principal directions of the shared covariance
    variances: np.ndarray  # [k] their variances
    residual: float  # the mean variance of the other F - k directions

    def save_to(self, handle: BinaryIO) -> None:
        np.savez(
            handle,
            means=self.means.astype(np.float32),
            components=self.components.astype(np.float32),
            variances=self.variances.astype(np.float32),
            residual=np.float32(self.residual),
        )

    @classmethod
    def load(cls, path: Path) -> GuardArrays:
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = cls(
                    means=np.asarray(data["means"], dtype=np.float64),
                    components=np.asarray(data["components"], dtype=np.float64),
                    variances=np.asarray(data["variances"], dtype=np.float64),
                    residual=float(data["residual"]),
                )
        except (OSError, KeyError, ValueError) as exc:
            raise UserError(f"{path}: not a guard file: {exc}") from exc
        k = arrays.variances.shape[0] if arrays.variances.ndim == 1 else -1
        if (
            arrays.means.ndim != 2
            or arrays.components.shape != (arrays.means.shape[1], k)
            or not arrays.residual > 0
            or not np.all(arrays.variances > 0)
        ):
            raise UserError(f"{path}: the guard's arrays have inconsistent shapes or values")
        return arrays

    def distance(self, pooled_features: np.ndarray) -> np.ndarray:
        """Smallest squared Mahalanobis distance of the embedded features to a class mean, per
        row of the pooled ``[N, F]``."""
        if pooled_features.shape[1] != self.means.shape[1]:
            raise UserError(
                f"the guard expects {self.means.shape[1]} features, the model gives "
                f"{pooled_features.shape[1]}"
            )
        embedded = embed(pooled_features)
        best: np.ndarray | None = None
        for mean in self.means:
            diff = embedded - mean
            projected = diff @ self.components
            total = (diff * diff).sum(axis=1)
            inside = (projected * projected).sum(axis=1)
            dist = (projected * projected / self.variances).sum(axis=1)
            dist += np.maximum(total - inside, 0.0) / self.residual
            best = dist if best is None else np.minimum(best, dist)
        assert best is not None
        return best


def fit_mahalanobis(
    pooled_features: np.ndarray, labels: np.ndarray, components: int = 64
) -> GuardArrays:
    """Class means and the shared (within-class) covariance of the embedded training features,
    as PPCA."""
    feats = embed(pooled_features)
    present = [c for c in np.unique(labels) if c >= 0]
    if not present or len(feats) < 2:
        raise UserError("the guard needs labelled training images to fit on")
    means = np.stack([feats[labels == c].mean(axis=0) for c in present])
    centred = feats - means[np.searchsorted(present, labels)]
    covariance = centred.T @ centred / max(1, len(feats) - len(present))
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    order = np.argsort(eigenvalues)[::-1]
    eigenvalues, eigenvectors = eigenvalues[order], eigenvectors[:, order]
    k = max(1, min(components, feats.shape[1] - 1))
    floor = max(float(eigenvalues[0]) * 1e-8, 1e-12)
    variances = np.maximum(eigenvalues[:k], floor)
    residual = max(float(eigenvalues[k:].mean()), floor)
    return GuardArrays(means, eigenvectors[:, :k], variances, residual)


@dataclass(frozen=True)
class Guard:
    """A fitted guard: how to score and where the domain ends."""

    method: GuardMethod
    threshold: float
    arrays: GuardArrays | None = None

    def scores(self, logits: np.ndarray, features: np.ndarray | None) -> np.ndarray:
        """One score per image of the identity view (higher = further from the training data)."""
        if self.method == "energy":
            return energy_score(logits)
        if self.arrays is None or features is None:
            raise ValueError("the Mahalanobis guard needs the feature map")
        return self.arrays.distance(pooled(features))

    def in_domain(self, scores: np.ndarray) -> np.ndarray:
        result: np.ndarray = np.asarray(scores) <= self.threshold
        return result


def pass_threshold(scores: np.ndarray, pass_rate: float) -> float:
    """The smallest threshold at which at least ``pass_rate`` of ``scores`` pass (score <= it)."""
    if not 0 < pass_rate <= 1:
        raise UserError(f"the pass rate must lie in (0, 1], got {pass_rate}")
    ordered = np.sort(np.asarray(scores, dtype=np.float64))
    if len(ordered) == 0:
        raise UserError("no scores to set the guard's threshold on")
    return float(ordered[max(0, int(np.ceil(pass_rate * len(ordered) - 1e-9)) - 1)])


def auroc(in_scores: np.ndarray, out_scores: np.ndarray) -> float | None:
    """Area under the ROC curve of 'out of distribution' (higher score) against in-distribution:
    the probability that an out-of-distribution image scores above an in-distribution one."""
    if len(in_scores) == 0 or len(out_scores) == 0:
        return None
    both = np.concatenate([in_scores, out_scores])
    order = both.argsort(kind="mergesort")
    ranks = np.empty(len(both), dtype=np.float64)
    ranks[order] = np.arange(1, len(both) + 1)
    # Average ranks over ties.
    _, inverse, counts = np.unique(both, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    ranks = (sums / counts)[inverse]
    n_out = len(out_scores)
    u = ranks[len(in_scores) :].sum() - n_out * (n_out + 1) / 2
    return float(u / (n_out * len(in_scores)))
