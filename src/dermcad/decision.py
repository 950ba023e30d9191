"""The one decision rule: which class a set of probabilities is labelled, and whether it is flagged.

A lesion is *flagged* when ``p(target_class) >= threshold`` (the calibrated operating point, not a
bare argmax); its label is then the target class, otherwise the most probable of the other classes.
The rule is read from a model's manifest (``target_class``, ``calibration.threshold``) and used by
serving (the API, the workers, ``dermcad predict``, hence the UI) and by evaluation (confusion
matrix, accuracy, balanced accuracy, the ``predicted`` column), so the metrics on a model card count
exactly the labels the API returns. See docs/architecture.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dermcad.taxonomy import TARGET_CLASS


@dataclass(frozen=True)
class DecisionRule:
    """``classes`` in model output order, the target class and its threshold."""

    classes: tuple[str, ...]
    threshold: float
    target_class: str = TARGET_CLASS

    def __post_init__(self) -> None:
        if self.target_class not in self.classes:
            raise ValueError(f"the model has no {self.target_class!r} class: {list(self.classes)}")
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {self.threshold}")

    @classmethod
    def of(
        cls, classes: Sequence[str], threshold: float, target_class: str = TARGET_CLASS
    ) -> DecisionRule:
        return cls(tuple(classes), float(threshold), target_class)

    @property
    def target_index(self) -> int:
        return self.classes.index(self.target_class)

    def _probabilities(self, probs: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
        array = np.asarray(probs, dtype=np.float64)
        if array.ndim != 2 or array.shape[1] != len(self.classes):
            raise ValueError(f"expected [N, {len(self.classes)}] probabilities, got {array.shape}")
        return array

    def flags(self, probs: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
        """``[N]`` booleans: ``p(target) >= threshold``."""
        array = self._probabilities(probs)
        flagged: np.ndarray = array[:, self.target_index] >= self.threshold
        return flagged

    def labels(self, probs: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
        """``[N]`` class indices: the target if flagged, else the argmax of the other classes."""
        array = self._probabilities(probs)
        target = self.target_index
        others = array.copy()
        others[:, target] = -np.inf
        labels: np.ndarray = np.where(self.flags(array), target, others.argmax(axis=1))
        return labels.astype(np.int64)
