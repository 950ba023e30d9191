"""``dermcad export --int8 --quantizer openvino``: an NNCF int8 package that OpenVINO serves."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from dermcad.cli.main import app
from dermcad.errors import UserError
from dermcad.export.package import load_batch
from dermcad.inference.runner import ModelRunner
from dermcad.inference.runtime import RuntimeOptions
from dermcad.inference.verify import verify_package
from dermcad.registry.store import open_package
from serving.tiny import Tiny

runner = CliRunner()
MODEL_ID = "tiny-ov8"


@pytest.fixture(scope="module")
def ov_registry(tiny: Tiny, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny run exported with the NNCF quantizer, through the CLI (made once)."""
    pytest.importorskip("nncf")
    pytest.importorskip("openvino")
    registry = tmp_path_factory.mktemp("ov8") / "reg"
    args = ["export", str(tiny.run_dir), "--registry", str(registry), "--id", MODEL_ID]
    result = runner.invoke(app, [*args, "--int8", "--quantizer", "openvino"])
    assert result.exit_code == 0, result.output
    assert "runtime openvino" in result.output
    assert "one view, int8 on openvino" in result.output
    return registry


@pytest.mark.slow
def test_the_package_says_what_made_it_and_what_runs_it(ov_registry: Path) -> None:
    manifest = open_package(ov_registry, MODEL_ID).manifest
    assert manifest.precision == "int8" and manifest.runtime == "openvino"
    q = manifest.quantization
    assert q is not None and q.method.startswith("nncf post-training quantization")
    assert q.calibration_images > 0 and q.eval_split == "val" and q.eval_images > 0
    assert manifest.parity is not None and manifest.parity.reference == "openvino"
    assert {"nncf", "openvino"} <= set(manifest.versions)
    assert manifest.outputs == ["logits", "features"] and manifest.has_heatmaps
    files = sorted(p.name for p in (ov_registry / MODEL_ID).iterdir())
    assert files == [
        "classifier.npz",
        "guard.npz",
        "model.json",
        "model.onnx",
    ]  # export fits the guard
    assert verify_package(ov_registry, MODEL_ID).ok


@pytest.mark.slow
def test_served_through_the_runner_close_to_float32(tiny: Tiny, ov_registry: Path) -> None:
    """Tolerance, derived from the float32 model: the int8 logits may be off by at most the
    worst case of rounding the pooled final feature map (ReLU, so unsigned) to the int8 grid,
    ``max|f| / 255`` per feature, through the classifier: ``max_c sum_k |W_ck| * max|f| / 255``.
    Softmax moves a probability by at most half the largest logit change (its Jacobian's rows
    sum to ``2 p (1 - p) <= 1/2`` in absolute value), so probabilities get half that."""
    fp32 = ModelRunner.open(open_package(tiny.registry, tiny.model_id))
    # DERMCAD_ONNX_PROVIDERS says ONNX Runtime; the package's runtime wins
    int8 = ModelRunner.open(
        open_package(ov_registry, MODEL_ID), RuntimeOptions(providers=("CPUExecutionProvider",))
    )
    assert int8.loaded.session.get_providers() == ["OpenVINO:f32"]
    batch = load_batch(tiny.images, fp32.manifest.spec)
    logits, features = fp32.run(batch, features=True)
    assert fp32.loaded.classifier is not None
    weight = fp32.loaded.classifier[0]
    logit_tol = float(np.abs(weight).sum(axis=1).max() * np.abs(features).max() / 255)
    int8_logits, int8_features = int8.run(batch, features=True)
    assert int8_features.shape == features.shape
    assert np.abs(int8_logits - logits).max() <= logit_tol
    for tta in (1, 8):
        p32 = np.array([p.probabilities for p in fp32.predict(batch, tta)])
        p8 = [p for p in int8.predict(batch, tta)]
        assert np.abs(np.array([p.probabilities for p in p8]) - p32).max() <= logit_tol / 2
        assert all(p.cam is not None for p in p8)


@pytest.mark.slow
def test_a_tampered_int8_file_is_refused(ov_registry: Path, tmp_path: Path) -> None:
    registry = tmp_path / "reg"
    shutil.copytree(ov_registry, registry)
    model = registry / MODEL_ID / "model.onnx"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    with pytest.raises(UserError, match="sha256"):
        ModelRunner.open(open_package(registry, MODEL_ID))
    checks = verify_package(registry, MODEL_ID).checks
    assert [(name, ok) for name, ok, _ in checks] == [("schema", True), ("sha256", False)]


@pytest.mark.slow
def test_the_api_serves_it_with_heat_maps(tiny: Tiny, ov_registry: Path, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from dermcad.api.app import create_app
    from dermcad.settings import Settings

    settings = Settings(registry=ov_registry, data_dir=tmp_path / "data")
    with TestClient(create_app(settings)) as client:
        [card] = client.get("/models").json()["models"]
        assert card["precision"] == "int8" and card["has_heatmaps"] is True
        with tiny.images[0].open("rb") as handle:
            posted = client.post("/predict", files={"file": ("a.jpg", handle, "image/jpeg")})
        task_id = posted.json()["task_uuid"]
        [item] = client.get(f"/from_task/{task_id}").json()
        assert item["error"] is None and item["heatmap_url"]
        assert client.get(f"/tasks/{task_id}/heatmaps/0.png").status_code == 200


def test_without_nncf_the_export_fails_in_one_line(
    tiny: Tiny, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "nncf", None)  # import nncf -> ImportError
    registry = tmp_path / "reg"
    args = ["export", str(tiny.run_dir), "--registry", str(registry), "--id", "x"]
    result = runner.invoke(app, [*args, "--int8", "--quantizer", "openvino"])
    assert result.exit_code == 2 and result.output.count("\n") == 1
    assert "pip install 'dermcad[quantize]'" in result.output
    assert not registry.exists() or list(registry.iterdir()) == []


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--quantizer", "openvino"], "--quantizer needs --int8"),
        (["--int8", "--quantizer", "trt"], "onnxruntime or openvino"),
    ],
)
def test_bad_quantizer_options(tiny: Tiny, tmp_path: Path, extra: list[str], message: str) -> None:
    args = ["export", str(tiny.run_dir), "--registry", str(tmp_path / "r"), "--id", "x", *extra]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and message in result.output
    assert not (tmp_path / "r").exists()


def test_a_float32_package_has_the_onnxruntime_runtime(tiny: Tiny) -> None:
    data = json.loads((tiny.package / "model.json").read_text())
    assert data["runtime"] == "onnxruntime" and data["precision"] == "fp32"
