"""One true end-to-end path: train -> evaluate -> export -> serve -> predict through HTTP.

A small network is trained on the shared synthetic dataset with the real CLI, exported with
``dermcad export`` and served by the real app; the thesis-style client's results must agree with
offline ``dermcad predict`` and with the evaluation's calibrated threshold, and the served model
must have learned the task.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.conftest import upload
from dermcad.api.app import create_app
from dermcad.cli.main import app
from dermcad.export.quantize import melanoma_auc
from dermcad.settings import Settings
from dermcad.taxonomy import CLASSES, TARGET_INDEX

# Trains a network: needs the training stack (skipped only in the serving-only CI step).
pytest.importorskip("torch")

RECIPE = """
name: e2e-resnet18
model: {net_type: resnet18, head: linear}
data: {img_size: 48, augment: light, workers: 0}
optimizer: {name: adamw, lr: 0.002, weight_decay: 0.01}
scheduler: {name: warmup-cosine, warmup_epochs: 0.5}
loss: {class_weights: sqrt-inverse}
epochs: 4
batch_size: 32
seed: 0
"""


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

    threshold = json.loads((run / "eval" / "metrics.json").read_text())["calibration"]["threshold"]
    test_rows = subset(frame, load_split(split, frame), "test")
    paths = [Path(p) for p in test_rows["path"]]
    with TestClient(create_app(Settings(registry=registry, data_dir=tmp_path / "data"))) as client:
        [model] = client.get("/public_models").json()["models"]
        posted = client.post(
            f"/predict_bulk?model_id={model}", files=[("files", upload(p)) for p in paths]
        ).json()
        items = client.get(f"/from_task/{posted['task_uuid']}").json()
    assert len(items) == len(paths) == posted["num_images"]
    assert all(item["threshold"] == pytest.approx(threshold) for item in items)
    api = np.array([[item["probabilities"][c] for c in CLASSES] for item in items])
    truth = test_rows["label_idx"].to_numpy() == TARGET_INDEX
    auc = melanoma_auc(api[:, TARGET_INDEX], truth)
    assert auc is not None and auc >= 0.9, auc

    out = tmp_path / "results.csv"
    _invoke(["predict", "--model", str(registry / "e2e"), *map(str, paths), "--out", str(out)])
    with out.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    offline = np.array([[float(row[f"p_{c}"]) for c in CLASSES] for row in rows])
    assert np.abs(api - offline).max() < 1e-6
    assert [row["target"] for row in rows] == [str(item["prediction"]["target"]) for item in items]
