"""Fit and measure the out-of-distribution guard through the one inference path.

Images are preprocessed by the one preprocessing function and run by the package's own
:class:`~dermcad.inference.runner.ModelRunner` (identity view, ``logits`` and ``features``), the
same outputs :meth:`ModelRunner.predict` scores when serving.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from dermcad.errors import UserError
from dermcad.inference.guard import (
    Guard,
    GuardArrays,
    GuardMethod,
    energy_score,
    fit_mahalanobis,
    pass_threshold,
    pooled,
)
from dermcad.inference.preprocess import ImageError, preprocess, to_array
from dermcad.inference.runner import ModelRunner

Source = Path | Image.Image
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Outputs:
    """Identity-view outputs of some images: logits ``[N, C]`` and pooled features ``[N, F]``."""

    logits: np.ndarray
    features: np.ndarray

    def scores(self, guard: Guard) -> np.ndarray:
        if guard.method == "energy":
            return energy_score(self.logits)
        assert guard.arrays is not None
        return guard.arrays.distance(self.features)


def model_outputs(
    runner: ModelRunner, sources: Sequence[Source], progress: Progress | None = None
) -> Outputs:
    """Run every image (a file or a decoded image) through the package's runner."""
    if "features" not in runner.manifest.outputs:
        raise UserError(
            f"model {runner.manifest.id!r}: the guard needs the ONNX output 'features', "
            "which this package's graph does not name"
        )
    spec = runner.manifest.spec
    logits: list[np.ndarray] = []
    features: list[np.ndarray] = []
    step = runner.batch_size
    for start in range(0, len(sources), step):
        batch = []
        for source in sources[start : start + step]:
            try:
                batch.append(
                    to_array(source, spec)
                    if isinstance(source, Image.Image)
                    else preprocess(source, spec)
                )
            except (ImageError, OSError) as exc:
                raise UserError(f"{source}: {exc}") from exc
        chunk_logits, chunk_features = runner.run(np.stack(batch), features=True)
        logits.append(chunk_logits)
        features.append(pooled(chunk_features))
        if progress is not None:
            progress(min(start + step, len(sources)), len(sources))
    if not logits:
        raise UserError("no images to run the guard on")
    return Outputs(np.concatenate(logits), np.concatenate(features))


def fit_guard(
    method: GuardMethod,
    train: Outputs,
    train_labels: np.ndarray,
    val: Outputs,
    pass_rate: float,
    components: int,
) -> Guard:
    """Fit on the training outputs; the threshold lets ``pass_rate`` of the validation pass."""
    arrays: GuardArrays | None = None
    if method == "mahalanobis":
        arrays = fit_mahalanobis(train.features, train_labels, components)
    unthresholded = Guard(method, float("inf"), arrays)
    threshold = pass_threshold(val.scores(unthresholded), pass_rate)
    return Guard(method, threshold, arrays)
