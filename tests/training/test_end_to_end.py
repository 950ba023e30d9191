"""The issue's "done when": train, evaluate and report run end to end on a synthetic set with a
small model, through the CLI, and learn it (test melanoma AUC >= 0.95)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from dermcad.cli.main import app
from dermcad.data.index import read_index

RECIPE = """
name: tiny-resnet18
group: synthetic
model: {net_type: resnet18, head: multi_dropout, dropout: 0.3}
data: {img_size: 48, augment: light, workers: 0}
optimizer: {name: adamw, lr: 0.002, weight_decay: 0.01}
scheduler: {name: warmup-cosine, warmup_epochs: 0.5}
loss: {class_weights: sqrt-inverse}
epochs: 4
batch_size: 32
seed: 0
"""


@pytest.mark.slow
def test_train_evaluate_report(
    tmp_path: Path, synthetic_index: Path, synthetic_split: Path
) -> None:
    runner = CliRunner()
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(RECIPE, encoding="utf-8")
    run = tmp_path / "run"
    result = runner.invoke(
        app,
        [
            "train",
            str(recipe),
            "--index",
            str(synthetic_index),
            "--split",
            str(synthetic_split),
            "--out",
            str(run),
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "epoch   4/4" in result.output
    for name in ("recipe.yaml", "run.json", "best.pt", "last.pt", "history.csv", "curves.png"):
        assert (run / name).is_file(), name
    history = pd.read_csv(run / "history.csv")
    assert list(history["epoch"]) == [1, 2, 3, 4]
    info = json.loads((run / "run.json").read_text())
    assert info["format"] == "dermcad-run/1"
    assert info["preprocess"]["img_size"] == 48
    assert info["best_epoch"] in (1, 2, 3, 4)

    result = runner.invoke(
        app,
        [
            "evaluate",
            str(run),
            "--split",
            "train",
            "--split",
            "val",
            "--split",
            "test",
            "--tta",
            "8",
            "--bootstrap",
            "100",
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads((run / "eval" / "metrics.json").read_text())
    test = metrics["test"]
    assert test["melanoma_auc"] >= 0.95
    assert test["tta"] == 8
    assert test["n_images"] == len(pd.read_csv(run / "eval" / "predictions_test.csv"))
    for key in (
        "melanoma_auc_ci95",
        "balanced_accuracy",
        "macro_auc",
        "pauc_80",
        "sensitivity",
        "specificity",
    ):
        assert key in test
    calibration = metrics["calibration"]
    assert calibration["temperature"] > 0
    # The temperature minimises the validation NLL (T = 1 is a candidate); ECE need not fall.
    assert calibration["nll_after"] <= calibration["nll_before"] + 1e-9
    assert 0 <= calibration["ece_after"] <= 1
    assert calibration["operating_point"] == "sensitivity >= 0.90 on the validation split"
    for plot in ("roc_test.png", "confusion_test.png", "reliability_test.png"):
        assert (run / "eval" / plot).stat().st_size > 1000

    # An external set alone: scored with the stored calibration, val is not predicted again.
    external = tmp_path / "external.csv"
    test_rows = pd.read_csv(run / "eval" / "predictions_test.csv")["image_id"]
    index = read_index(synthetic_index)  # absolute image paths
    index[index["image_id"].isin(test_rows)].to_csv(external, index=False)
    result = runner.invoke(
        app,
        [
            "evaluate",
            str(run),
            "--external",
            str(external),
            "--name",
            "ext",
            "--tta",
            "8",
            "--bootstrap",
            "50",
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "val:" not in result.output
    after = json.loads((run / "eval" / "metrics.json").read_text())
    assert after["ext"]["melanoma_auc"] == pytest.approx(test["melanoma_auc"])
    assert after["calibration"] == calibration

    result = runner.invoke(app, ["report", str(run), "--out", str(tmp_path / "report")])
    assert result.exit_code == 0, result.output
    table = (tmp_path / "report" / "table3.md").read_text()
    assert f"| tiny-resnet18 | synthetic | {metrics['train']['melanoma_auc']:.3f}" in table
    assert "mean ± SD" in table
