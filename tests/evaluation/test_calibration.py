from __future__ import annotations

import numpy as np
import pytest

from dermcad.evaluation.calibration import fit_temperature, replay_proba
from dermcad.inference.tta import dihedral_view, predict_proba, softmax


def test_replay_is_predict_proba() -> None:
    rng = np.random.default_rng(0)
    batch = rng.normal(size=(5, 3, 4, 4)).astype(np.float32)
    weights = rng.normal(size=(3 * 16, 4))

    def logits_fn(x: np.ndarray) -> np.ndarray:
        return np.asarray(x.reshape(len(x), -1) @ weights)

    views = np.stack([logits_fn(dihedral_view(batch, k)) for k in range(8)])
    for temperature in (0.5, 1.0, 2.5):
        np.testing.assert_allclose(
            replay_proba(views, temperature),
            predict_proba(logits_fn, batch, tta=8, temperature=temperature),
            rtol=1e-12,
        )


def test_fit_temperature_recovers_a_known_overconfidence() -> None:
    """Labels drawn from softmax(z); the model reports 3 z: the best temperature is 3."""
    rng = np.random.default_rng(1)
    z = rng.normal(scale=1.5, size=(20000, 4))
    probs = softmax(z)
    labels = np.array([rng.choice(4, p=p) for p in probs])
    temperature = fit_temperature((3.0 * z)[None], labels)
    assert temperature == pytest.approx(3.0, rel=0.05)
