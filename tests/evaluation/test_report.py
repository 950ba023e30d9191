from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from dermcad.errors import UserError
from dermcad.evaluation.report import write_report


def _run(root: Path, name: str, group: str, aucs: dict[str, float]) -> Path:
    run = root / name
    (run / "eval").mkdir(parents=True)
    (run / "recipe.yaml").write_text(f"name: {name}\ngroup: {group}\n", encoding="utf-8")
    metrics = {split: {"melanoma_auc": auc, "tta": 8} for split, auc in aucs.items()}
    (run / "eval" / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")
    return run


def test_table3_mean_and_sd_per_group(tmp_path: Path) -> None:
    runs = [
        _run(tmp_path, "M0", "plain", {"train": 0.99, "val": 0.85, "test": 0.843}),
        _run(tmp_path, "M1", "plain", {"train": 0.98, "val": 0.86, "test": 0.861}),
        _run(tmp_path, "M4", "augmented", {"val": 0.88, "test": 0.892}),
    ]
    md, csv = write_report(runs, tmp_path / "out")
    text = md.read_text(encoding="utf-8")
    sd = statistics.stdev([0.843, 0.861])  # 0.01273
    assert f"| mean ± SD | plain | 0.985 ± {statistics.stdev([0.99, 0.98]):.3f}" in text
    assert f"{(0.843 + 0.861) / 2:.3f} ± {sd:.3f} |" in text
    assert "| M4 | augmented | - | 0.880 | 0.892 |" in text
    assert "| mean ± SD | augmented | - | 0.880 | 0.892 |" in text
    assert csv.read_text(encoding="utf-8").splitlines()[0] == "model,group,train,val,test"


def test_unevaluated_run_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    with pytest.raises(UserError, match="dermcad evaluate"):
        write_report([tmp_path / "run"], tmp_path / "out")
