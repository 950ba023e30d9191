"""The issue's "done when": train, evaluate and report run end to end on a synthetic set with a
small model, through the CLI, and learn it.

The synthetic classes differ only in shape, texture and colour pattern (no global statistic gives
them away, see ``tests/data/test_synthetic.py``), so clearing the thresholds on the held-out test
patients (melanoma AUC, balanced accuracy over the eight classes and macro AUC) needs a network
that learnt from the labels; the same recipe trained on shuffled labels must fail all three.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from dermcad.cli.main import app
from dermcad.data.index import read_index, write_index
from dermcad.data.splits import load_split, write_split

RECIPE = """
name: tiny-resnet18
group: synthetic
model: {net_type: test_resnet, head: multi_dropout, dropout: 0.3}
data: {img_size: 48, augment: light, workers: 0}
optimizer: {name: adamw, lr: 0.005, weight_decay: 0.01}
scheduler: {name: warmup-cosine, warmup_epochs: 0.5}
loss: {class_weights: sqrt-inverse}
epochs: 12
batch_size: 16
seed: 0
"""
EPOCHS = 12

# What "learnt" means on the test split; chance is 0.5, 0.125 (eight classes) and 0.5.
MELANOMA_AUC, BALANCED_ACCURACY, MACRO_AUC = 0.9, 0.5, 0.85


def _learnt(metrics: dict[str, float]) -> list[bool]:
    return [
        metrics["melanoma_auc"] >= MELANOMA_AUC,
        metrics["balanced_accuracy"] >= BALANCED_ACCURACY,
        metrics["macro_auc"] >= MACRO_AUC,
    ]


def _shuffle_training_labels(index: Path, split: Path, out: Path) -> tuple[Path, Path]:
    """The index with the training rows' labels permuted (val and test untouched), and its split."""
    frame = read_index(index)
    assignment = load_split(split, frame).assignment
    train = (frame["image_id"].map(assignment) == "train").to_numpy()
    labels = frame.loc[train, ["label", "label_idx"]].to_numpy()
    frame.loc[train, ["label", "label_idx"]] = labels[
        np.random.default_rng(0).permutation(len(labels))
    ]
    out.mkdir()
    shuffled = write_index(frame, out / "index.csv", relative_paths=False)
    record = load_split(split)
    new_split = write_split(
        out / "split.json",
        frame,
        assignment,
        seed=record.seed,
        group_by=record.group_by,
        fractions=record.fractions,
    )
    return shuffled, new_split


def _train(runner: CliRunner, recipe: Path, index: Path, split: Path, run: Path) -> str:
    args = ["train", str(recipe), "--index", str(index), "--split", str(split), "--out", str(run)]
    result = runner.invoke(app, [*args, "--no-progress"])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.slow
def test_train_evaluate_report(
    tmp_path: Path, synthetic_index: Path, synthetic_split: Path
) -> None:
    runner = CliRunner()
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(RECIPE, encoding="utf-8")
    run = tmp_path / "run"
    result = _train(runner, recipe, synthetic_index, synthetic_split, run)
    assert f"epoch  {EPOCHS}/{EPOCHS}" in result
    for name in ("recipe.yaml", "run.json", "best.pt", "last.pt", "history.csv", "curves.png"):
        assert (run / name).is_file(), name
    history = pd.read_csv(run / "history.csv")
    assert list(history["epoch"]) == list(range(1, EPOCHS + 1))
    info = json.loads((run / "run.json").read_text())
    assert info["format"] == "dermcad-run/1"
    assert info["preprocess"]["img_size"] == 48
    assert 1 <= info["best_epoch"] <= EPOCHS

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
    assert _learnt(test) == [True, True, True], test
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
            "--external",  # a second set in the same call: both are scored, not the last alone
            str(external),
            "--name",
            "ext2",
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
    assert after["ext2"]["melanoma_auc"] == pytest.approx(test["melanoma_auc"])
    assert after["calibration"] == calibration

    result = runner.invoke(app, ["report", str(run), "--out", str(tmp_path / "report")])
    assert result.exit_code == 0, result.output
    table = (tmp_path / "report" / "table3.md").read_text()
    assert f"| tiny-resnet18 | synthetic | {metrics['train']['melanoma_auc']:.3f}" in table
    assert "mean ± SD" in table


@pytest.mark.slow
def test_shuffled_training_labels_fail_the_same_thresholds(
    tmp_path: Path, synthetic_index: Path, synthetic_split: Path
) -> None:
    """The control: the same recipe on the same images, labels permuted among the training rows,
    scored on the true test labels, clears none of the thresholds the real run clears."""
    index, split = _shuffle_training_labels(synthetic_index, synthetic_split, tmp_path / "data")
    assert (read_index(index)["label"] != read_index(synthetic_index)["label"]).any()
    runner = CliRunner()
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(RECIPE, encoding="utf-8")
    _train(runner, recipe, index, split, tmp_path / "run")
    args = ["evaluate", str(tmp_path / "run"), "--split", "test", "--tta", "8"]
    result = runner.invoke(app, [*args, "--bootstrap", "20", "--no-progress"])
    assert result.exit_code == 0, result.output
    test = json.loads((tmp_path / "run" / "eval" / "metrics.json").read_text())["test"]
    assert _learnt(test) == [False, False, False], test
