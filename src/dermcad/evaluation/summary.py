"""The flat metrics of one split (docs/models.md) from labels and probabilities. Pure."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any, Final

import numpy as np

from dermcad.decision import DecisionRule
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
)

ISIC2017_TOP_MELANOMA_AUC: Final = 0.874
"""The best melanoma AUC of the ISIC 2017 challenge's part 3 test (RECOD Titans; Codella et al.,
"Skin lesion analysis toward melanoma detection: a challenge at the 2017 ISBI", ISBI 2018,
arXiv:1710.05006): the reference printed beside a model's ISIC 2017 test figures."""


def target_index(classes: Sequence[str]) -> int:
    """Where the target class is (a :class:`ValueError` if the classes lack it)."""
    return DecisionRule.of(classes, 0.5).target_index


def json_number(value: float) -> float | None:
    """NaN and infinity are not JSON: they become null."""
    return None if value is None or not math.isfinite(value) else float(value)


def _macro_auc(y: np.ndarray, p: np.ndarray) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        return macro_auc(y, p)


def split_metrics(
    labels: np.ndarray,
    probs: np.ndarray,
    classes: Sequence[str],
    *,
    threshold: float,
    tta: int,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Every metric of a split, flat; undefined values (one class present) are null.

    Accuracy, balanced accuracy and the confusion matrix count the labels of the one decision rule
    (:mod:`dermcad.decision`) at ``threshold``: those the API returns."""
    y = np.asarray(labels, dtype=np.int64)
    rule = DecisionRule.of(classes, threshold)
    target = rule.target_index
    is_target = y == target
    scores = probs[:, target]
    predicted = rule.labels(probs)  # the labels the API returns, not a bare argmax
    rates = rates_at_threshold(is_target, scores, threshold)
    low, high = bootstrap_ci(roc_auc, is_target, scores, n_boot=n_boot, seed=seed)
    m_low, m_high = (
        bootstrap_ci(
            lambda yy, pp: _macro_auc(yy, pp), y, probs, n_boot=max(n_boot // 5, 50), seed=seed
        )
        if len(np.unique(y)) > 1
        else (math.nan, math.nan)
    )
    out: dict[str, Any] = {
        "melanoma_auc": roc_auc(is_target, scores),
        "melanoma_auc_ci95": [json_number(low), json_number(high)],
        "balanced_accuracy": balanced_accuracy(y, predicted),
        "macro_auc": _macro_auc(y, probs),
        "macro_auc_ci95": [json_number(m_low), json_number(m_high)],
        "pauc_80": partial_auc_above_tpr(is_target, scores, 0.8),
        "sensitivity": rates["sensitivity"],
        "specificity": rates["specificity"],
        "ppv": rates["ppv"],
        "npv": rates["npv"],
        "threshold": threshold,
        "accuracy": accuracy(y, predicted),
        "ece": expected_calibration_error(probs, y),
        "n_images": len(y),
        "n_melanoma": int(is_target.sum()),
        "tta": tta,
    }
    for name, auc in zip(classes, one_vs_rest_aucs(y, probs), strict=True):
        out[f"auc_{name}"] = auc
    out["confusion_matrix"] = confusion_matrix(y, predicted, len(classes)).tolist()
    return {k: json_number(v) if isinstance(v, float) else v for k, v in out.items()}


def isic2017_challenge(metrics: dict[str, Any]) -> dict[str, Any]:
    """The ISIC 2017 part 3 scores from a split's metrics: melanoma AUC, seborrheic keratosis
    AUC (SK is BKL here; on ISIC 2017 images BKL vs rest is SK vs melanoma and nevus) and their
    mean, the challenge's ranking score."""
    mel, sk = metrics.get("melanoma_auc"), metrics.get("auc_BKL")
    mean = (mel + sk) / 2 if mel is not None and sk is not None else None
    return {
        "melanoma_auc": mel,
        "seborrheic_keratosis_auc": sk,
        "mean_auc": mean,
        "top_melanoma_auc_2017": ISIC2017_TOP_MELANOMA_AUC,
    }


def by_source_metrics(
    labels: np.ndarray,
    probs: np.ndarray,
    classes: Sequence[str],
    sources: Sequence[str],
    *,
    threshold: float,
    tta: int,
    n_boot: int = 1000,
) -> dict[str, dict[str, Any]]:
    """:func:`split_metrics` of each source's images (``""`` is named ``unknown``); the ISIC 2017
    block also carries the challenge's own scores (:func:`isic2017_challenge`)."""
    names = np.asarray([str(s) or "unknown" for s in sources])
    out: dict[str, dict[str, Any]] = {}
    for name in sorted(set(names.tolist())):
        mask = names == name
        block = split_metrics(
            labels[mask], probs[mask], classes, threshold=threshold, tta=tta, n_boot=n_boot
        )
        if name == "isic2017":
            block["isic2017_challenge"] = isic2017_challenge(block)
        out[name] = block
    return out
