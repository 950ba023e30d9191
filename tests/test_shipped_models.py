"""The shipped packages reproduce their committed per-image predictions, and the README's figures
recompute from committed predictions (docs/models/golden.toml declares both; see its header for
how a new package declares its golden file).
"""

from __future__ import annotations

import csv
import json
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from dermcad.cli.main import app
from dermcad.evaluation.metrics import roc_auc
from dermcad.taxonomy import CLASSES, TARGET_INDEX

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = tomllib.loads((ROOT / "docs/models/golden.toml").read_text(encoding="utf-8"))
PACKAGES = sorted(p.name for p in (ROOT / "models").iterdir() if (p / "model.json").is_file())


def read_predictions(path: Path) -> dict[str, dict[str, Any]]:
    """``image id -> {"probs": [8 floats], "flag": bool, "label": str | None}`` from either a
    ``dermcad evaluate`` predictions CSV or a ``dermcad predict`` results CSV."""
    rows: dict[str, dict[str, Any]] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            image = row["image_id"] if "image_id" in row else Path(row["name"]).stem
            flag = row["flagged_melanoma"] if "flagged_melanoma" in row else row["target"]
            rows[image] = {
                "probs": [float(row[f"p_{name}"]) for name in CLASSES],
                "flag": flag == "True",
                "label": row.get("label") if "image_id" in row else None,
                # The out-of-distribution guard's verdict (dermcad predict; "" without a guard).
                "outside": row.get("in_domain") == "False",
            }
    return rows


def test_every_shipped_package_has_golden_predictions() -> None:
    declared = [entry["package"] for entry in GOLDEN["golden"]]
    assert PACKAGES and sorted(declared) == PACKAGES
    for entry in GOLDEN["golden"]:
        assert (ROOT / entry["predictions"]).is_file(), entry["predictions"]


@pytest.mark.realdata
@pytest.mark.parametrize("entry", GOLDEN["golden"], ids=[e["package"] for e in GOLDEN["golden"]])
def test_package_reproduces_its_committed_predictions(
    entry: dict[str, Any], shared_data: Path, tmp_path: Path
) -> None:
    golden = read_predictions(ROOT / entry["predictions"])
    images = [shared_data / entry["images"] / f"{image}.jpg" for image in golden]
    out = tmp_path / "results.csv"
    args = ["predict", *map(str, images), "--model", str(ROOT / "models" / entry["package"])]
    result = CliRunner().invoke(app, [*args, "--tta", str(entry["tta"]), "--out", str(out)])
    assert result.exit_code == 0, result.output
    served = read_predictions(out)
    assert list(served) == list(golden)
    diff = np.abs(
        np.array([served[i]["probs"] for i in golden])
        - np.array([golden[i]["probs"] for i in golden])
    )
    assert diff.max() <= entry["tolerance"], f"largest difference {diff.max():.2e}"
    # The committed predictions are the model's own decisions; the guard only ever withdraws a
    # flag, from an image it finds out of domain (docs/models.md).
    withdrawn = [i for i in golden if served[i]["outside"]]
    assert not any(served[i]["flag"] for i in withdrawn)
    flips = [i for i in golden if served[i]["flag"] != golden[i]["flag"] and i not in withdrawn]
    assert not flips, f"melanoma flags changed: {flips}"


def melanoma_auc_of(path: Path) -> float:
    rows = read_predictions(path).values()
    truth = [int(row["label"] == CLASSES[TARGET_INDEX]) for row in rows]
    return float(roc_auc(truth, [row["probs"][TARGET_INDEX] for row in rows]))


@pytest.mark.parametrize("figure", GOLDEN["figure"], ids=[f["row"] for f in GOLDEN["figure"]])
def test_readme_figure_recomputes_from_committed_predictions(figure: dict[str, Any]) -> None:
    auc = melanoma_auc_of(ROOT / figure["predictions"])
    readme = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    lines = [line for line in readme if line.startswith(figure["row"])]
    assert len(lines) == 1, f"README has {len(lines)} lines starting with {figure['row']!r}"
    cells = [cell.strip().strip("*") for cell in lines[0].split("|")]
    assert f"{auc:.{figure['digits']}f}" in cells, (auc, lines[0])
    if "package" in figure:
        manifest = json.loads((ROOT / "models" / figure["package"] / "model.json").read_text())
        assert manifest["metrics"][figure["metrics"]]["melanoma_auc"] == pytest.approx(
            auc, abs=1e-4
        )
