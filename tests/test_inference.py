"""The one inference path: dihedral TTA, calibrated softmax and the melanoma decision."""

from __future__ import annotations

import numpy as np
import pytest

from dermcad.decision import DecisionRule
from dermcad.inference.tta import decide, dihedral_view, predict_proba, softmax
from dermcad.taxonomy import CLASSES, TARGET_INDEX


def test_dihedral_views_match_numpy_rotations_and_flips() -> None:
    batch = np.random.default_rng(0).normal(size=(2, 3, 5, 5))
    expected = [
        batch,
        batch[..., ::-1],
        batch[..., ::-1, :],
        np.rot90(batch, 2, axes=(2, 3)),
    ]
    transposed = batch.transpose(0, 1, 3, 2)
    expected += [
        transposed,
        transposed[..., ::-1],
        transposed[..., ::-1, :],
        np.rot90(transposed, 2, axes=(2, 3)),
    ]
    for k, want in enumerate(expected):
        np.testing.assert_array_equal(dihedral_view(batch, k), want)
    flat = {dihedral_view(batch, k).tobytes() for k in range(8)}
    assert len(flat) == 8
    with pytest.raises(ValueError):
        dihedral_view(batch, 8)


def test_softmax_is_stable_and_temperature_flattens() -> None:
    logits = np.array([[1000.0, 0.0, -1000.0], [1.0, 2.0, 3.0]])
    probs = softmax(logits)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    np.testing.assert_allclose(probs[0], [1.0, 0.0, 0.0], atol=1e-12)
    manual = np.exp([1.0, 2.0, 3.0]) / np.exp([1.0, 2.0, 3.0]).sum()
    np.testing.assert_allclose(probs[1], manual)
    hot, cold = softmax(logits[1:], 0.5)[0], softmax(logits[1:], 2.0)[0]
    assert hot.max() > probs[1].max() > cold.max()
    with pytest.raises(ValueError):
        softmax(logits, 0.0)


def test_tta_averages_the_probabilities_of_each_view() -> None:
    batch = np.random.default_rng(1).normal(size=(3, 3, 4, 4)).astype(np.float32)
    weights = np.random.default_rng(2).normal(size=(3 * 4 * 4, 8))

    def logits_fn(x: np.ndarray) -> np.ndarray:
        out: np.ndarray = x.reshape(len(x), -1) @ weights
        return out

    for tta in (1, 4, 8):
        want = np.mean(
            [softmax(logits_fn(dihedral_view(batch, k)), 1.5) for k in range(tta)], axis=0
        )
        np.testing.assert_allclose(predict_proba(logits_fn, batch, tta=tta, temperature=1.5), want)
    with pytest.raises(ValueError, match="tta"):
        predict_proba(logits_fn, batch, tta=2)


def test_a_view_invariant_model_gives_the_same_answer_with_or_without_tta() -> None:
    batch = np.random.default_rng(3).normal(size=(2, 3, 6, 6))

    def mean_logits(x: np.ndarray) -> np.ndarray:
        return np.repeat(x.mean(axis=(1, 2, 3))[:, None], 8, axis=1) * np.arange(8)

    np.testing.assert_allclose(
        predict_proba(mean_logits, batch, tta=8), predict_proba(mean_logits, batch, tta=1)
    )


def test_decision_follows_the_threshold_not_the_argmax() -> None:
    probs = np.full(8, 0.02)
    probs[7] = 0.8
    probs[TARGET_INDEX] = 0.06
    flagged = decide(probs, DecisionRule.of(CLASSES, 0.05))
    assert flagged.target is True
    assert flagged.label == TARGET_INDEX
    assert flagged.prediction == "melanoma"
    assert flagged.melanoma_probability == pytest.approx(0.06)
    assert decide(probs, DecisionRule.of(CLASSES, 0.5)).target is False


def test_unflagged_lesion_gets_the_best_other_class_even_if_melanoma_is_argmax() -> None:
    probs = np.full(8, 0.01)
    probs[TARGET_INDEX] = 0.6
    probs[1] = 0.33
    decision = decide(probs, DecisionRule.of(CLASSES, 0.7))
    assert decision.target is False
    assert decision.label == 1
    assert decision.prediction == "BCC"
    with pytest.raises(ValueError):
        decide(probs[:7], DecisionRule.of(CLASSES, 0.5))
