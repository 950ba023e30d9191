"""Recompute a manifest's decision-rule metrics from a run's committed per-image predictions.

Accuracy, balanced accuracy and the confusion matrix depend on the decision rule
(:mod:`dermcad.decision`); the AUCs, ECE and operating-point rates do not. A package whose
training checkpoint is gone cannot be exported again, but its recorded metrics can follow the rule
the API applies: they are counted again from ``predictions_<split>.csv`` (written by
``dermcad evaluate``) under the manifest's own ``target_class`` and threshold.
``python -m dermcad.evaluation.rescore PREDICTIONS_DIR PACKAGE...`` rewrites the manifests in place
(their sha256-checked files untouched) and adds the input description older manifests lack.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dermcad.atomic import write_json_atomic
from dermcad.decision import DecisionRule
from dermcad.errors import UserError
from dermcad.evaluation.metrics import accuracy, balanced_accuracy, confusion_matrix
from dermcad.registry.manifest import MANIFEST_NAME, parse_manifest


def rule_metrics(predictions: pd.DataFrame, rule: DecisionRule) -> dict[str, Any]:
    """The decision-rule metrics of one split's predictions file (``label``, ``p_<class>``)."""
    missing = [f"p_{c}" for c in rule.classes if f"p_{c}" not in predictions.columns]
    if missing or "label" not in predictions.columns:
        raise UserError(f"predictions lack the columns {missing or ['label']}")
    unknown = sorted(set(predictions["label"]) - set(rule.classes))
    if unknown:
        raise UserError(f"predictions hold labels outside the model's classes: {unknown}")
    truth = np.array([rule.classes.index(label) for label in predictions["label"]])
    probs = predictions[[f"p_{c}" for c in rule.classes]].to_numpy(dtype=np.float64)
    predicted = rule.labels(probs)
    return {
        "accuracy": accuracy(truth, predicted),
        "balanced_accuracy": balanced_accuracy(truth, predicted),
        "confusion_matrix": confusion_matrix(truth, predicted, len(rule.classes)).tolist(),
    }


def rescore_manifest(package: Path, predictions_dir: Path) -> list[str]:
    """Rewrite ``package``'s decision-rule metrics and input description; what changed."""
    path = package / MANIFEST_NAME
    data = json.loads(path.read_text(encoding="utf-8"))
    manifest = parse_manifest(data, str(path))
    rule = manifest.decision_rule
    changes = []
    for split, metrics in data.get("metrics", {}).items():
        csv = predictions_dir / f"predictions_{split}.csv"
        if not csv.is_file():
            raise UserError(f"{csv}: missing (the manifest records metrics of split {split!r})")
        frame = pd.read_csv(csv)
        if len(frame) != metrics.get("n_images", len(frame)):
            raise UserError(f"{csv}: {len(frame)} rows, the manifest counts {metrics['n_images']}")
        for key, value in rule_metrics(frame, rule).items():
            if key in metrics and metrics[key] != value:
                shown = f"{metrics[key]} -> {value}" if key != "confusion_matrix" else "recounted"
                changes.append(f"{split}.{key}: {shown}")
                metrics[key] = value
    if data.get("input") is None:
        data["input"] = manifest.model_input.model_dump(mode="json")
        changes.append("input: added")
    parse_manifest(data, str(path))  # still a valid manifest
    write_json_atomic(path, data)
    return changes


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(
            "usage: python -m dermcad.evaluation.rescore PREDICTIONS_DIR PACKAGE...",
            file=sys.stderr,
        )
        return 2
    try:
        for package in argv[1:]:
            changes = rescore_manifest(Path(package), Path(argv[0]))
            print(f"{package}: " + ("; ".join(changes) or "unchanged"))
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
