"""The manifest's ``runtime``: old manifests load on ONNX Runtime; ``openvino`` packages always run
on OpenVINO, and are refused in one line where openvino is not installed."""

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
from dermcad.inference.runner import ModelRunner
from dermcad.inference.runtime import RuntimeOptions, check_integrity
from dermcad.inference.verify import verify_package
from dermcad.registry.store import open_package
from serving.tiny import Tiny


def _copy(tiny: Tiny, tmp_path: Path, **changes: object) -> Path:
    """A copy of the tiny registry whose manifest has ``changes`` (None deletes a key)."""
    registry = tmp_path / "reg"
    shutil.copytree(tiny.registry, registry)
    path = registry / tiny.model_id / "model.json"
    data = json.loads(path.read_text())
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    path.write_text(json.dumps(data))
    return registry


def _batch() -> np.ndarray:
    return np.random.default_rng(3).normal(size=(2, 3, 64, 64)).astype(np.float32)


def test_a_manifest_without_runtime_loads_on_onnxruntime(tiny: Tiny, tmp_path: Path) -> None:
    registry = _copy(tiny, tmp_path, runtime=None)
    assert "runtime" not in json.loads((registry / "tiny" / "model.json").read_text())
    package = open_package(registry, "tiny")
    assert package.manifest.runtime == "onnxruntime"
    runner = ModelRunner.open(package)
    assert runner.loaded.session.get_providers() == ["CPUExecutionProvider"]
    assert verify_package(registry, "tiny").ok


def test_an_unknown_runtime_is_refused(tiny: Tiny, tmp_path: Path) -> None:
    registry = _copy(tiny, tmp_path, runtime="tensorrt")
    with pytest.raises(UserError, match="runtime"):
        open_package(registry, "tiny")


@pytest.mark.parametrize("providers", [("CPUExecutionProvider",), ("OpenVINO",)])
def test_an_openvino_package_runs_on_openvino_whatever_the_providers(
    tiny: Tiny, tmp_path: Path, providers: tuple[str, ...]
) -> None:
    pytest.importorskip("openvino")
    reference = ModelRunner.open(open_package(tiny.registry, "tiny"))
    registry = _copy(tiny, tmp_path, runtime="openvino")
    runner = ModelRunner.open(open_package(registry, "tiny"), RuntimeOptions(providers=providers))
    # OpenVINO:f32, not the bf16 that a bare "OpenVINO" provider would pick on an AMX CPU
    assert runner.loaded.session.get_providers() == ["OpenVINO:f32"]
    assert runner.has_heatmaps
    logits, features = runner.run(_batch(), features=True)
    ref_logits, ref_features = reference.run(_batch(), features=True)
    np.testing.assert_allclose(logits, ref_logits, atol=1e-4)
    np.testing.assert_allclose(features, ref_features, atol=1e-4)
    assert runner.predict(_batch()[:1], tta=4)[0].cam is not None


def test_without_openvino_an_openvino_package_is_refused_in_one_line(
    tiny: Tiny, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = _copy(tiny, tmp_path, runtime="openvino")
    monkeypatch.setitem(sys.modules, "openvino", None)  # import openvino -> ImportError
    package = open_package(registry, "tiny")
    with pytest.raises(UserError, match=r"pip install 'dermcad\[openvino\]'"):
        check_integrity(package)
    with pytest.raises(UserError, match=r"pip install 'dermcad\[openvino\]'"):
        ModelRunner.open(package)
    report = verify_package(registry, "tiny")
    assert [(name, ok) for name, ok, _ in report.checks] == [
        ("schema", True),
        ("sha256", True),
        ("guard", True),
        ("parity", False),
    ]
    served = CliRunner().invoke(
        app,
        ["serve"],
        env={"DERMCAD_REGISTRY": str(registry), "DERMCAD_DATA_DIR": str(tmp_path / "data")},
    )
    assert served.exit_code == 2
    assert served.output.count("\n") == 1 and "dermcad[openvino]" in served.output
    # an ONNX Runtime package is not affected
    check_integrity(open_package(tiny.registry, "tiny"))
