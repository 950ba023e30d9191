"""``dermcad predict``: offline batch prediction with the API's result fields."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from dermcad.cli.main import app
from dermcad.inference.results import csv_columns
from dermcad.taxonomy import CLASSES
from serving.tiny import Tiny, torch_probabilities

runner = CliRunner()


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_predict_files_and_folders(tiny: Tiny, tmp_path: Path) -> None:
    folder = tmp_path / "in" / "sub"
    folder.mkdir(parents=True)
    for p in tiny.images[1:4]:
        shutil.copy(p, folder / p.name)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff not really")
    (folder / "notes.txt").write_text("ignored")
    out = tmp_path / "results.csv"
    result = runner.invoke(
        app,
        [
            "predict",
            "--model",
            str(tiny.package),
            str(tiny.images[0]),
            str(tmp_path / "in"),
            "--out",
            str(out),
            "--tta",
            "4",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "5 images" in result.output and "1 unreadable" in result.output
    rows = _rows(out)
    assert list(rows[0]) == csv_columns(list(CLASSES))
    in_folder = sorted([*(f"sub/{p.name}" for p in tiny.images[1:4]), "sub/broken.jpg"])
    assert [r["name"] for r in rows] == [str(tiny.images[0]), *in_folder]
    good = [r for r in rows if not r["error"]]
    assert len(good) == 4 and all(r["tta"] == "4" for r in rows)
    broken = next(r for r in rows if r["name"] == "sub/broken.jpg")
    assert "corrupt" in broken["error"] and broken["prediction"] == ""
    expected = torch_probabilities(tiny.run_dir, [tiny.images[0]], tta=4)[0]
    got = np.array([float(rows[0][f"p_{c}"]) for c in CLASSES])
    assert np.abs(got - expected).max() < 1e-4


def test_predict_errors_are_one_line(tiny: Tiny, tmp_path: Path) -> None:
    missing = runner.invoke(app, ["predict", "--model", str(tiny.package), str(tmp_path / "nope")])
    assert missing.exit_code == 2 and "no such file or folder" in missing.output
    bad_tta = runner.invoke(
        app, ["predict", "--model", str(tiny.package), str(tiny.images[0]), "--tta", "3"]
    )
    assert bad_tta.exit_code == 2 and "--tta" in bad_tta.output
    no_model = runner.invoke(app, ["predict", "--model", str(tmp_path), str(tiny.images[0])])
    assert no_model.exit_code == 2 and "Traceback" not in no_model.output
