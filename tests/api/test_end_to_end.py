"""One true end-to-end path: train -> evaluate -> export -> serve -> predict through HTTP.

A small network is trained on the shared synthetic dataset with the real CLI, exported with
``dermcad export`` and served by the real app; the thesis-style client's results must agree with
offline ``dermcad predict`` and with the evaluation's calibrated threshold, and the served model
must have learned the task: from the API's probabilities on the held-out test patients, melanoma
AUC, balanced accuracy and macro AUC clear thresholds that the same network with untrained weights,
exported and served beside it, fails (the synthetic classes differ only in their structure, so no
shortcut clears them).
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.conftest import upload
from dermcad.api.app import create_app
from dermcad.cli.main import app
from dermcad.evaluation.metrics import balanced_accuracy, macro_auc, roc_auc
from dermcad.settings import Settings
from dermcad.taxonomy import CLASSES, TARGET_INDEX

# Trains a network: needs the training stack (skipped only in the serving-only CI step).
pytest.importorskip("torch")

RECIPE = """
name: e2e-resnet18
model: {net_type: test_resnet, head: linear}
data: {img_size: 48, augment: light, workers: 0}
optimizer: {name: adamw, lr: 0.005, weight_decay: 0.01}
scheduler: {name: warmup-cosine, warmup_epochs: 0.5}
loss: {class_weights: sqrt-inverse}
epochs: 12
batch_size: 16
seed: 0
"""

# What "learnt" means on the test split; chance is 0.5, 0.125 (eight classes) and 0.5.
MELANOMA_AUC, BALANCED_ACCURACY, MACRO_AUC = 0.9, 0.5, 0.85


def _learnt(probs: np.ndarray, labels: np.ndarray) -> list[bool]:
    return [
        roc_auc(labels == TARGET_INDEX, probs[:, TARGET_INDEX]) >= MELANOMA_AUC,
        balanced_accuracy(labels, probs.argmax(axis=1)) >= BALANCED_ACCURACY,
        macro_auc(labels, probs) >= MACRO_AUC,
    ]


def _untrained_copy(run: Path, out: Path) -> Path:
    """The run with its weights replaced by a fresh initialisation: the control."""
    import torch

    from dermcad.models import ModelConfig, build_model

    shutil.copytree(run, out)
    checkpoint = torch.load(out / "best.pt", map_location="cpu", weights_only=False)
    config = json.loads((run / "run.json").read_text(encoding="utf-8"))["model"]
    torch.manual_seed(1)
    checkpoint["model"] = build_model(ModelConfig(**config), load_pretrained=False).state_dict()
    torch.save(checkpoint, out / "best.pt")
    return out


def _invoke(args: list[str]) -> str:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.slow
def test_train_export_serve_predict(synthetic_index: Path, tmp_path: Path) -> None:
    from dermcad.data.index import read_index
    from dermcad.data.splits import load_split, split_holdout, subset, write_split

    frame = read_index(synthetic_index)
    split = write_split(
        tmp_path / "split.json",
        frame,
        split_holdout(frame, (0.6, 0.2, 0.2), seed=0),
        seed=0,
        group_by="auto",
        fractions=(0.6, 0.2, 0.2),
    )
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(RECIPE, encoding="utf-8")
    run, registry = tmp_path / "run", tmp_path / "models"
    _invoke(
        [
            "train",
            str(recipe),
            "--index",
            str(synthetic_index),
            "--split",
            str(split),
            "--out",
            str(run),
            "--no-progress",
        ]
    )
    _invoke(
        [
            "evaluate",
            str(run),
            "--split",
            "val",
            "--split",
            "test",
            "--bootstrap",
            "20",
            "--no-progress",
        ]
    )
    _invoke(["export", str(run), "--registry", str(registry), "--id", "e2e"])
    _invoke(["registry", "verify", "e2e", "--registry", str(registry)])
    untrained = _untrained_copy(run, tmp_path / "untrained")
    _invoke(["export", str(untrained), "--registry", str(registry), "--id", "untrained"])

    threshold = json.loads((run / "eval" / "metrics.json").read_text())["calibration"]["threshold"]
    test_rows = subset(frame, load_split(split, frame), "test")
    paths = [Path(p) for p in test_rows["path"]]
    answers: dict[str, list[dict[str, Any]]] = {}
    with TestClient(create_app(Settings(registry=registry, data_dir=tmp_path / "data"))) as client:
        assert sorted(client.get("/public_models").json()["models"]) == ["e2e", "untrained"]
        for model in ("e2e", "untrained"):
            posted = client.post(
                f"/predict_bulk?model_id={model}", files=[("files", upload(p)) for p in paths]
            ).json()
            answers[model] = client.get(f"/from_task/{posted['task_uuid']}").json()
            assert len(answers[model]) == len(paths) == posted["num_images"]
    items = answers["e2e"]
    assert all(item["threshold"] == pytest.approx(threshold) for item in items)
    api = np.array([[item["probabilities"][c] for c in CLASSES] for item in items])
    labels = test_rows["label_idx"].to_numpy()
    assert _learnt(api, labels) == [True, True, True]
    control = np.array([[i["probabilities"][c] for c in CLASSES] for i in answers["untrained"]])
    assert _learnt(control, labels) == [False, False, False]

    out = tmp_path / "results.csv"
    _invoke(["predict", "--model", str(registry / "e2e"), *map(str, paths), "--out", str(out)])
    with out.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    offline = np.array([[float(row[f"p_{c}"]) for c in CLASSES] for row in rows])
    assert np.abs(api - offline).max() < 1e-6
    assert [row["target"] for row in rows] == [str(item["prediction"]["target"]) for item in items]
