"""The ONNX Runtime model runner used by ``dermcad predict``, the API workers and verification.

One session per model, loaded once and shared (``InferenceSession.run`` is thread-safe). The runner
provides the *logits function* that :func:`dermcad.inference.predict_proba` (the one inference path)
calls, runs large batches in chunks, and keeps the identity view's feature map for heat maps
(always of the manifest's target class, melanoma, whatever the decision: the map a melanoma CAD's
caption describes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from dermcad.inference.guard import Guard
from dermcad.inference.runtime import LoadedPackage, RuntimeOptions, load_package
from dermcad.inference.tta import Decision, decide, predict_proba
from dermcad.registry.manifest import FEATURES_OUTPUT, LOGITS_OUTPUT, Manifest
from dermcad.registry.store import Package


@dataclass(frozen=True)
class Prediction:
    """One image's calibrated probabilities, the decision and (optionally) its CAM.

    ``in_domain`` and ``ood_score`` are the guard's verdict and score (``None`` when the package has
    no guard); an image out of domain is never flagged (``decision.target`` is false)."""

    probabilities: np.ndarray
    decision: Decision
    cam: np.ndarray | None
    in_domain: bool | None = None
    ood_score: float | None = None


class ModelRunner:
    """Runs one loaded package. Thread-safe; batches are split into chunks of ``batch_size``."""

    def __init__(self, loaded: LoadedPackage, batch_size: int = 16) -> None:
        self.loaded = loaded
        self.batch_size = max(1, batch_size)
        self._session = loaded.session
        self._with_features = loaded.classifier is not None
        # The guard scores the identity view; the Mahalanobis guard needs its feature map too.
        self._guard_features = loaded.guard is not None and loaded.guard.method == "mahalanobis"
        self._input_name = loaded.package.manifest.model_input.name

    @classmethod
    def open(
        cls, package: Package, options: RuntimeOptions = RuntimeOptions(), batch_size: int = 16
    ) -> ModelRunner:
        return cls(load_package(package, options), batch_size)

    @property
    def manifest(self) -> Manifest:
        return self.loaded.package.manifest

    @property
    def has_heatmaps(self) -> bool:
        return self._with_features

    @property
    def guard(self) -> Guard | None:
        return self.loaded.guard

    def run(self, batch: np.ndarray, *, features: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Raw ``logits`` (and ``features`` if asked, else an empty array) for a batch."""
        names = [LOGITS_OUTPUT, FEATURES_OUTPUT] if features else [LOGITS_OUTPUT]
        logits_parts: list[np.ndarray] = []
        feature_parts: list[np.ndarray] = []
        for start in range(0, len(batch), self.batch_size):
            chunk = np.ascontiguousarray(batch[start : start + self.batch_size], dtype=np.float32)
            outputs = self._session.run(names, {self._input_name: chunk})
            logits_parts.append(np.asarray(outputs[0], dtype=np.float32))
            if features:
                feature_parts.append(np.asarray(outputs[1], dtype=np.float32))
        logits = np.concatenate(logits_parts)
        feats = np.concatenate(feature_parts) if features else np.empty(0, dtype=np.float32)
        return logits, feats

    def logits(self, batch: np.ndarray) -> np.ndarray:
        """The logits function for :func:`dermcad.inference.predict_proba`."""
        return self.run(batch)[0]

    def predict(self, batch: np.ndarray, tta: int | None = None) -> list[Prediction]:
        """Probabilities, decisions and CAMs for a preprocessed ``[N, 3, S, S]`` batch."""
        manifest = self.manifest
        views = manifest.tta if tta is None else tta
        kept: list[tuple[np.ndarray, np.ndarray]] = []

        def logits_fn(view: np.ndarray) -> np.ndarray:
            # The first view predict_proba asks for is the identity: keep its outputs.
            first = not kept
            logits, feats = self.run(view, features=first and self._needs_features)
            if first:
                kept.append((logits, feats))
            return logits

        probs = predict_proba(logits_fn, batch, tta=views, temperature=manifest.temperature)
        identity_logits, identity_features = kept[0]
        rule = manifest.decision_rule
        decisions = [decide(row, rule) for row in probs]
        cams: Sequence[np.ndarray | None] = [None] * len(batch)
        if self.loaded.classifier is not None:
            from dermcad.inference.heatmap import class_activation_maps

            weight, _ = self.loaded.classifier
            targets = [rule.target_index] * len(decisions)
            cams = class_activation_maps(identity_features, weight, targets)
        guard = self.loaded.guard
        if guard is None:
            return [Prediction(p, d, c) for p, d, c in zip(probs, decisions, cams, strict=True)]
        scores = guard.scores(identity_logits, identity_features)
        inside = guard.in_domain(scores)
        return [
            Prediction(p, d if ok else replace(d, target=False), c, bool(ok), float(score))
            for p, d, c, ok, score in zip(probs, decisions, cams, inside, scores, strict=True)
        ]

    @property
    def _needs_features(self) -> bool:
        return self._with_features or self._guard_features
