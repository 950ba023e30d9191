"""Exported ONNX files carry no path of the exporting machine, and stripping changes no output."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import dermcad
from dermcad.export import onnx_export
from dermcad.export.onnx_clean import SOURCE_LOCATION_KEYS, strip_source_locations_file
from serving.tiny import Tiny

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")


def machine_paths() -> list[bytes]:
    """Folders of this machine that the exporter's stack traces name: dermcad's and torch's."""
    return [str(Path(m.__file__).resolve().parent).encode() for m in (dermcad, torch)]


def found_in(path: Path) -> list[bytes]:
    data = path.read_bytes()
    return [folder for folder in machine_paths() if folder in data]


def _outputs(path: Path, batch: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, {session.get_inputs()[0].name: batch})[0])


def test_the_exporter_writes_machine_paths_and_export_strips_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten()
    )
    raw = tmp_path / "raw.onnx"
    with monkeypatch.context() as patched:  # the exporter alone, as it writes the file
        patched.setattr(onnx_export, "strip_source_locations_file", lambda path: 0)
        onnx_export.export_onnx(model, 16, raw, features=False)
    assert found_in(raw), "the exporter no longer records source locations: revisit onnx_clean"

    exported = tmp_path / "model.onnx"
    onnx_export.export_onnx(model, 16, exported, features=False)
    assert found_in(exported) == []
    nodes = onnx.load(str(exported)).graph.node
    keys = {p.key for node in nodes for p in node.metadata_props}
    assert keys and not keys & SOURCE_LOCATION_KEYS  # other metadata (module scopes) is kept

    batch = np.random.default_rng(0).random((2, 3, 16, 16), dtype=np.float32)
    before = _outputs(raw, batch)
    assert strip_source_locations_file(raw) > 0
    assert found_in(raw) == []
    np.testing.assert_array_equal(_outputs(raw, batch), before)
    assert strip_source_locations_file(raw) == 0  # nothing left; the file is not rewritten


def test_a_published_package_names_no_machine_path(tiny: Tiny) -> None:
    assert found_in(tiny.registry / tiny.model_id / "model.onnx") == []
