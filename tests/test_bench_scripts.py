"""Smoke tests of the bench scripts behind published figures, on committed data: the ensemble
choice (``bench/ensemble_auc.py``) and the int8 AUC claims (``bench/accuracy_check.py``) rerun
here, and their output must match the figures the docs print; the soak (``bench/soak.py``) runs
for a few seconds against a live server."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dermcad.evaluation.metrics import roc_auc

ROOT = Path(__file__).resolve().parents[1]
PREDICTIONS = ROOT / "docs/models/ham10000-lite0"
V3 = ROOT / "docs/models/experiments/call1-v3"


def _bench(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), *sys.path])}
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )


def _docs_row(doc: str, start: str) -> list[str]:
    lines = [line for line in (ROOT / doc).read_text(encoding="utf-8").splitlines()]
    row = [line for line in lines if line.startswith(start)]
    assert len(row) == 1, f"{doc}: {len(row)} rows start with {start!r}"
    return [cell.strip() for cell in row[0].split("|")]


@pytest.mark.parametrize(("split", "column"), [("val", 2), ("test", 3)])
def test_ensemble_auc_reproduces_the_docs_ensemble_row(split: str, column: int) -> None:
    files = [PREDICTIONS / f"predictions_{split}.csv", V3 / f"predictions_{split}.csv"]
    result = _bench("bench/ensemble_auc.py", *map(str, files))
    assert result.returncode == 0, result.stderr
    mean = re.search(
        r"^(\d\.\d{4}) \[(\d\.\d{4}), (\d\.\d{4})\]  mean of the above$", result.stdout, re.M
    )
    assert mean, result.stdout
    auc, low, high = map(float, mean.groups())
    frames = [pd.read_csv(f).set_index("image_id").sort_index() for f in files]
    y = (frames[0]["label"] == "melanoma").to_numpy().astype(int)
    expected = roc_auc(y, np.mean([f["p_melanoma"].to_numpy() for f in frames], axis=0))
    assert auc == round(expected, 4) and low < auc < high
    row = _docs_row("docs/models.md", "| (not shipped) mean of v1 and v3 probabilities |")
    assert row[column] == f"{expected:.3f}"


def test_ensemble_auc_refuses_files_of_different_images() -> None:
    files = [PREDICTIONS / "predictions_val.csv", V3 / "predictions_test.csv"]
    result = _bench("bench/ensemble_auc.py", *map(str, files))
    assert result.returncode != 0 and "not the same images and labels" in result.stderr


@pytest.mark.realdata
@pytest.mark.slow
def test_accuracy_check_reproduces_the_int8_isic_real_figures(
    shared_data: Path, tmp_path: Path
) -> None:
    out = tmp_path / "accuracy.json"
    packages = ["ham10000-lite0-224", "ham10000-lite0-224-int8"]
    result = _bench("bench/accuracy_check.py", "--packages", *packages, "--json", str(out))
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert report["n"] == 210 and 0 < report["melanoma"] < 210
    fp32, int8 = (report["tta1"][f"{p} [CPUExecutionProvider]"] for p in packages)
    assert fp32["auc_change"] == 0.0 and fp32["flags_changed"] == 0
    assert int8["max_abs_prob_diff"] > 0  # two different networks were really compared
    assert int8["auc_change"] == pytest.approx(int8["auc"] - fp32["auc"])
    low, high = int8["auc_change_ci95"]
    assert low <= int8["auc_change"] <= high
    # the figures docs/performance.md and the int8 card print
    assert (
        _docs_row("docs/performance.md", "| Lite0 fp32, ONNX Runtime |")[2] == f"{fp32['auc']:.4f}"
    )
    card = json.loads((ROOT / "models" / packages[1] / "model.json").read_text())["card"]
    assert f"the 210 isic-real\n  images from {fp32['auc']:.4f} to {int8['auc']:.4f}" in card


@pytest.mark.slow
def test_soak_smoke_run_counts_every_task_and_the_servers_memory(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    args = ["--clients", "2", "--duration", "3", "--tta", "1", "--bulk-share", "0.5"]
    result = _bench("bench/soak.py", *args, "--bulk-images", "3", "--json", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(out.read_text())
    latency = report["latency"]
    assert report["errors"] == 0 and report["tasks"] > 0
    assert report["tasks"] == latency["predict"]["n"] + latency["bulk"]["n"]
    assert report["images"] == latency["predict"]["n"] + 3 * latency["bulk"]["n"]
    assert report["requests"] >= 2 * report["tasks"]  # a POST and at least one /from_task each
    assert report["readyz_at_end"] == 200
    assert 0 < report["rss_mib"]["after_warm_up"] <= report["rss_mib"]["peak"]
    assert f"{report['requests']} requests, 0 errors" in result.stdout
