"""Golden values derived by hand (small cases) or by an independent implementation (sklearn)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn import metrics as skm

from dermcad.evaluation.metrics import (
    UndefinedMetricWarning,
    accuracy,
    balanced_accuracy,
    bootstrap_ci,
    confusion_matrix,
    expected_calibration_error,
    macro_auc,
    one_vs_rest_aucs,
    partial_auc_above_tpr,
    rates_at_threshold,
    roc_auc,
    threshold_for_sensitivity,
)


def test_auc_hand_computed() -> None:
    # Positives 0.8, 0.4; negatives 0.6, 0.2: pairs (0.8>0.6, 0.8>0.2, 0.4<0.6, 0.4>0.2) -> 3/4.
    assert roc_auc([1, 0, 1, 0], [0.8, 0.6, 0.4, 0.2]) == pytest.approx(0.75)
    # A tie between a positive and a negative counts one half: (1 + 0.5) / 2.
    assert roc_auc([1, 0, 1, 0], [0.5, 0.5, 0.9, 0.1]) == pytest.approx(1.0 - 0.5 / 4)
    assert roc_auc([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4]) == 1.0


def test_auc_matches_sklearn_on_random_data() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    s = np.round(rng.normal(y * 0.7, 1.0), 1)  # rounding makes many ties
    assert roc_auc(y, s) == pytest.approx(skm.roc_auc_score(y, s), abs=1e-12)


def test_one_class_gives_nan_and_a_warning() -> None:
    with pytest.warns(UndefinedMetricWarning):
        assert math.isnan(roc_auc([1, 1, 1], [0.1, 0.2, 0.3]))
    with pytest.warns(UndefinedMetricWarning):
        assert math.isnan(partial_auc_above_tpr([0, 0], [0.1, 0.2]))
    assert bootstrap_ci(roc_auc, np.array([0, 0]), np.array([0.1, 0.2])) == (
        pytest.approx(math.nan, nan_ok=True),
        pytest.approx(math.nan, nan_ok=True),
    )


def _isic2024_pauc(y: np.ndarray, s: np.ndarray, min_tpr: float = 0.8) -> float:
    """The ISIC 2024 Kaggle scorer's formula (sklearn, McClish correction undone)."""
    max_fpr = abs(1 - min_tpr)
    v_gt = abs(np.asarray(y) - 1)
    v_pred = -1.0 * np.asarray(s)
    scaled = skm.roc_auc_score(v_gt, v_pred, max_fpr=max_fpr)
    return 0.5 * max_fpr**2 + (max_fpr - 0.5 * max_fpr**2) / (1.0 - 0.5) * (scaled - 0.5)


def test_partial_auc_matches_isic2024_formula() -> None:
    rng = np.random.default_rng(1)
    for _ in range(5):
        y = rng.integers(0, 2, 200)
        s = rng.normal(y * 1.2, 1.0)
        assert partial_auc_above_tpr(y, s) == pytest.approx(_isic2024_pauc(y, s), abs=1e-9)
    # A perfect ranking fills the whole band: 1 - 0.8 = 0.2.
    assert partial_auc_above_tpr([0, 1], [0.1, 0.9]) == pytest.approx(0.2)


def test_balanced_accuracy_and_confusion() -> None:
    y_true = [0, 0, 0, 1, 2, 2]
    y_pred = [0, 0, 1, 1, 2, 0]
    # recalls: class 0 2/3, class 1 1/1, class 2 1/2 -> mean 13/18
    assert balanced_accuracy(y_true, y_pred) == pytest.approx(13 / 18)
    assert balanced_accuracy(y_true, y_pred) == pytest.approx(
        skm.balanced_accuracy_score(y_true, y_pred)
    )
    assert accuracy(y_true, y_pred) == pytest.approx(4 / 6)
    np.testing.assert_array_equal(
        confusion_matrix(y_true, y_pred, 4), skm.confusion_matrix(y_true, y_pred, labels=range(4))
    )


def test_one_vs_rest_and_macro() -> None:
    rng = np.random.default_rng(2)
    y = rng.integers(0, 3, 120)
    probs = rng.dirichlet([1, 1, 1], 120)
    probs = np.c_[probs, np.zeros(120)]  # a fourth class that never occurs
    per_class = one_vs_rest_aucs(y, probs)
    for c in range(3):
        assert per_class[c] == pytest.approx(skm.roc_auc_score(y == c, probs[:, c]))
    assert math.isnan(per_class[3])
    assert macro_auc(y, probs) == pytest.approx(np.mean(per_class[:3]))


def test_rates_and_threshold_hand_computed() -> None:
    y = [1, 1, 1, 1, 0, 0, 0, 0, 0, 0]
    s = [0.9, 0.8, 0.4, 0.2, 0.7, 0.3, 0.1, 0.1, 0.05, 0.0]
    rates = rates_at_threshold(y, s, 0.35)
    # called: 0.9 0.8 0.4 (tp) and 0.7 (fp) -> sens 3/4, spec 5/6, ppv 3/4, npv 5/6
    assert rates == pytest.approx(
        {"sensitivity": 0.75, "specificity": 5 / 6, "ppv": 0.75, "npv": 5 / 6}
    )
    # sensitivity >= 0.9 of 4 positives needs all 4: the lowest positive, 0.2.
    assert threshold_for_sensitivity(y, s, 0.9) == 0.2
    assert threshold_for_sensitivity(y, s, 0.5) == 0.8
    with pytest.warns(UndefinedMetricWarning):
        assert math.isnan(rates_at_threshold(y, s, 2.0)["ppv"])


def test_bootstrap_interval_brackets_the_estimate() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 400)
    s = rng.normal(y, 1.0)
    low, high = bootstrap_ci(roc_auc, y, s, n_boot=300, seed=0)
    auc = roc_auc(y, s)
    assert low < auc < high
    assert 0.03 < high - low < 0.2  # about +-1.96 * SE (SE ~0.023 at n=400, AUC 0.76)


def test_bootstrap_of_a_multiclass_metric_on_two_nonzero_classes() -> None:
    rng = np.random.default_rng(5)
    y = rng.choice([6, 7], 150)  # class indices, neither of them 0
    probs = rng.dirichlet(np.ones(8), 150)
    low, high = bootstrap_ci(macro_auc, y, probs, n_boot=50, seed=0)
    assert 0 < low < high < 1


def test_expected_calibration_error_hand_computed() -> None:
    # Two bins used: confidence 0.9 (2 images, 1 right) and 0.6 (2 images, both right).
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.4, 0.6], [0.4, 0.6]])
    y = [0, 1, 1, 1]
    expected = 0.5 * abs(0.5 - 0.9) + 0.5 * abs(1.0 - 0.6)
    assert expected_calibration_error(probs, y, n_bins=10) == pytest.approx(expected)


def test_by_source_metrics_are_the_metrics_of_each_sources_images() -> None:
    from dermcad.evaluation.summary import by_source_metrics, isic2017_challenge, split_metrics

    rng = np.random.default_rng(3)
    classes = ("AK", "BCC", "BKL", "DF", "SCC", "VASC", "melanoma", "nevus")
    labels = rng.choice([2, 6, 7], size=90)
    probs = rng.dirichlet(np.ones(8), size=90)
    probs[labels == 6, 6] += 0.3  # melanoma scores informative, unlike the rest
    probs /= probs.sum(axis=1, keepdims=True)
    sources = np.array(["isic2017", "ham10000", ""] * 30)
    blocks = by_source_metrics(labels, probs, classes, sources, threshold=0.3, tta=1, n_boot=20)
    assert set(blocks) == {"ham10000", "isic2017", "unknown"}
    mask = sources == "ham10000"
    alone = split_metrics(labels[mask], probs[mask], classes, threshold=0.3, tta=1, n_boot=20)
    assert blocks["ham10000"] == alone
    terms = blocks["isic2017"]["isic2017_challenge"]
    assert terms == isic2017_challenge(blocks["isic2017"])
    assert terms["mean_auc"] == pytest.approx(
        (blocks["isic2017"]["melanoma_auc"] + blocks["isic2017"]["auc_BKL"]) / 2
    )
    assert "isic2017_challenge" not in blocks["ham10000"]
