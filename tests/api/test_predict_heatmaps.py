"""``dermcad predict --heatmaps`` writes the same overlays the API serves for the same images."""

from __future__ import annotations

import csv
from pathlib import Path

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.conftest import upload
from dermcad.cli.main import app
from serving.tiny import Tiny


def test_cli_heatmaps_are_the_apis_overlays(client: TestClient, tiny: Tiny, tmp_path: Path) -> None:
    images = tiny.images[:3]
    out, folder = tmp_path / "results.csv", tmp_path / "maps"
    args = ["predict", "--model", str(tiny.package), *map(str, images), "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--tta", "1", "--heatmaps", str(folder)])
    assert result.exit_code == 0, result.output
    with out.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["heatmap"] for row in rows] == [str(folder / f"{i}.png") for i in range(3)]

    response = client.post(
        "/predict_bulk", files=[("files", upload(p)) for p in images], data={"tta": "1"}
    )
    items = client.get(f"/from_task/{response.json()['task_uuid']}").json()
    for index, item in enumerate(items):
        served = client.get(item["heatmap_url"])
        assert served.status_code == 200
        assert (folder / f"{index}.png").read_bytes() == served.content


def test_heatmaps_need_a_model_with_heat_maps(tiny: Tiny, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy" / tiny.model_id
    shutil.copytree(tiny.package, copy)
    manifest = (copy / "model.json").read_text(encoding="utf-8")
    (copy / "model.json").write_text(
        manifest.replace('"features"', '"logits"', 1), encoding="utf-8"
    )
    args = ["predict", "--model", str(copy), str(tiny.images[0]), "--out", str(tmp_path / "r.csv")]
    result = CliRunner().invoke(app, [*args, "--heatmaps", str(tmp_path / "maps")])
    assert result.exit_code != 0
    assert "has no heat maps" in result.output
    assert not (tmp_path / "r.csv").exists() and not (tmp_path / "maps").exists()
