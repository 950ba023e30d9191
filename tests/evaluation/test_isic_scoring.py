"""dermcad's metrics against the ISIC challenges' own scorer on the same predictions files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from isic_challenge_scoring.classification import ClassificationMetric, ClassificationScore

from dermcad.decision import DecisionRule
from dermcad.evaluation.metrics import balanced_accuracy
from dermcad.evaluation.outputs import isic_frames
from dermcad.evaluation.summary import split_metrics
from dermcad.taxonomy import CLASSES


def test_auc_and_balanced_accuracy_agree_with_isic_challenge_scoring() -> None:
    rng = np.random.default_rng(4)
    n = 400
    labels = rng.integers(0, len(CLASSES), n)
    logits = rng.normal(size=(n, len(CLASSES)))
    logits[np.arange(n), labels] += 1.5  # informative but imperfect
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    ids = [f"ISIC_{i:07d}" for i in range(n)]
    prediction, truth = isic_frames(ids, labels, probs, CLASSES)
    prediction, truth = prediction.set_index("image"), truth.set_index("image")
    weights = pd.DataFrame({"score_weight": 1.0, "validation_weight": 1.0}, index=truth.index)
    score = ClassificationScore(truth, prediction, weights, ClassificationMetric.BALANCED_ACCURACY)

    ours = split_metrics(labels, probs, CLASSES, threshold=0.5, tta=1, n_boot=20)
    assert ours["melanoma_auc"] == pytest.approx(score.per_category.at["MEL", "auc"], abs=1e-9)
    assert ours["auc_BCC"] == pytest.approx(score.per_category.at["BCC", "auc"], abs=1e-9)
    # The scorer labels by argmax; dermcad's summary counts the labels of its decision rule.
    assert balanced_accuracy(labels, probs.argmax(axis=1)) == pytest.approx(score.overall, abs=1e-9)
    rule = DecisionRule.of(CLASSES, 0.5)
    assert ours["balanced_accuracy"] == balanced_accuracy(labels, rule.labels(probs))
    assert ours["macro_auc"] == pytest.approx(score.macro_average["auc"], abs=1e-9)
