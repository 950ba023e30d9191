"""Decision-rule metrics counted again from a predictions file equal those evaluation recorded."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from dermcad.decision import DecisionRule
from dermcad.evaluation.outputs import write_predictions
from dermcad.evaluation.rescore import rule_metrics
from dermcad.evaluation.summary import split_metrics
from dermcad.taxonomy import CLASSES

SHIPPED = Path(__file__).resolve().parents[2] / "models" / "ham10000-lite0-224"
PREDICTIONS = Path(__file__).resolve().parents[2] / "docs" / "models" / "ham10000-lite0"


def test_rule_metrics_from_a_predictions_file_match_split_metrics(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    labels = rng.integers(0, len(CLASSES), 300)
    logits = rng.normal(size=(300, len(CLASSES)))
    logits[np.arange(300), labels] += 1.0
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    threshold = 0.15
    ids = [f"img{i}" for i in range(300)]
    write_predictions(tmp_path, "test", ids, labels, probs, CLASSES, threshold)
    again = rule_metrics(
        pd.read_csv(tmp_path / "predictions_test.csv"), DecisionRule.of(CLASSES, threshold)
    )
    recorded = split_metrics(labels, probs, CLASSES, threshold=threshold, tta=1, n_boot=10)
    assert again["confusion_matrix"] == recorded["confusion_matrix"]
    assert again["balanced_accuracy"] == recorded["balanced_accuracy"]
    assert again["accuracy"] == recorded["accuracy"]


def test_the_shipped_manifest_records_the_rules_metrics() -> None:
    data = json.loads((SHIPPED / "model.json").read_text(encoding="utf-8"))
    rule = DecisionRule.of(data["classes"], data["calibration"]["threshold"], data["target_class"])
    for split, metrics in data["metrics"].items():
        again = rule_metrics(pd.read_csv(PREDICTIONS / f"predictions_{split}.csv"), rule)
        assert metrics["confusion_matrix"] == again["confusion_matrix"]
        assert metrics["balanced_accuracy"] == again["balanced_accuracy"]
