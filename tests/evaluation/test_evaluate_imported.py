from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from dermcad.cli.main import app
from dermcad.models.thesis import thesis_model_config


@pytest.mark.slow
def test_an_imported_thesis_model_is_evaluated_on_given_data(
    tmp_path: Path, synthetic_index: Path
) -> None:
    from dermcad.data.index import read_index, write_index
    from dermcad.data.splits import split_holdout, write_split
    from dermcad.models import build_model

    frame = read_index(synthetic_index)
    # Two sources, so that evaluation reports every metric per source as well.
    frame["source"] = ["isic2017" if i % 3 == 0 else "ham10000" for i in range(len(frame))]
    synthetic_index = write_index(frame, tmp_path / "index.csv", relative_paths=False)
    split = write_split(
        tmp_path / "split.json",
        frame,
        split_holdout(frame, (0.6, 0.2, 0.2)),
        seed=42,
        group_by="auto",
        fractions=(0.6, 0.2, 0.2),
    )
    torch.manual_seed(0)
    net = build_model(thesis_model_config(), load_pretrained=False)
    state = {
        k.removeprefix("backbone."): v
        for k, v in net.state_dict().items()
        if k.startswith("backbone.")
    }
    state |= {"myfc.weight": net.head.fc.weight, "myfc.bias": net.head.fc.bias}
    torch.save({"model_state_dict": state}, tmp_path / "ResNet18_Melanoma.pth.tar")
    runner = CliRunner()
    run = tmp_path / "run"
    result = runner.invoke(
        app,
        [
            "import-thesis",
            str(tmp_path / "ResNet18_Melanoma.pth.tar"),
            "--out",
            str(run),
            "--img-size",
            "32",
        ],
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["evaluate", str(run), "--tta", "1", "--no-progress"])
    assert result.exit_code == 2 and "--index and --split-file" in result.output
    result = runner.invoke(
        app,
        [
            "evaluate",
            str(run),
            "--tta",
            "1",
            "--bootstrap",
            "20",
            "--no-progress",
            "--index",
            str(synthetic_index),
            "--split-file",
            str(split),
        ],
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads((run / "eval" / "metrics.json").read_text())
    test = metrics["test"]
    assert test["n_images"] == sum(
        v == "test" for v in json.loads(split.read_text())["assignment"].values()
    )
    blocks = test["by_source"]
    assert set(blocks) == {"ham10000", "isic2017"}
    assert sum(b["n_images"] for b in blocks.values()) == test["n_images"]
    assert blocks["isic2017"]["n_images"] == sum(
        s == "isic2017" and a == "test"
        for s, a in zip(
            frame["source"],
            frame["image_id"].map(json.loads(split.read_text())["assignment"]),
            strict=True,
        )
    )
    challenge = blocks["isic2017"]["isic2017_challenge"]
    assert challenge["melanoma_auc"] == blocks["isic2017"]["melanoma_auc"]
    assert challenge["seborrheic_keratosis_auc"] == blocks["isic2017"]["auc_BKL"]
    assert "isic2017_challenge" not in blocks["ham10000"]
    assert "ISIC 2017 challenge terms" in result.output
