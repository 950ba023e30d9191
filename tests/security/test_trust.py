"""Trust in artifacts: checkpoints never unpickle code (``torch.load(weights_only=True)``), and a
model package whose files differ from the sha256 in its manifest is never loaded, by the API
(``create_app``), by ``dermcad serve`` or offline."""

from __future__ import annotations

import ast
import json
import pickle
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.conftest import make_settings
from dermcad.api.app import create_app
from dermcad.errors import UserError
from serving.tiny import Tiny

SRC = Path(__file__).resolve().parents[2] / "src" / "dermcad"


class _Payload:
    """Unpickling this runs ``open(marker, "w")``: a file appears if code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Callable[..., object], tuple[str, str]]:
        return (open, (str(self.marker), "w"))


def _malicious_files(folder: Path) -> list[tuple[Path, Path]]:
    """(checkpoint, marker) pairs: torch's zip format and a legacy raw pickle."""
    import torch

    made = []
    for kind in ("zip", "legacy"):
        marker = folder / f"pwned-{kind}"
        path = folder / f"{kind}.pt"
        payload = {"model": {"w": torch.zeros(2)}, "epoch": _Payload(marker)}
        if kind == "zip":
            torch.save(payload, path)
        else:
            with path.open("wb") as handle:
                pickle.dump(payload, handle)
        made.append((path, marker))
    # Sanity: a plain unpickling of these files would run the payload.
    path, marker = made[1]
    with path.open("rb") as handle:
        handle_obj = pickle.load(handle)
    handle_obj["epoch"].close()
    assert marker.exists()
    marker.unlink()
    return made


def test_malicious_checkpoints_are_refused_by_every_loader(tmp_path: Path) -> None:
    from dermcad.models.run import load_checkpoint_state, load_run
    from dermcad.models.thesis import load_thesis_checkpoint
    from dermcad.models.weights import read_state_dict

    for path, marker in _malicious_files(tmp_path):
        run_dir = tmp_path / f"run-{path.stem}"
        run_dir.mkdir()
        shutil.copy(path, run_dir / "best.pt")
        (run_dir / "run.json").write_text(
            json.dumps({"format": "dermcad-run/1", "model": {"net_type": "test_resnet"}})
        )
        loaders: list[Callable[[], object]] = [
            lambda p=path: read_state_dict(p),
            lambda p=path: load_checkpoint_state(p),
            lambda p=path: load_thesis_checkpoint(p),
            lambda r=run_dir: load_run(r),
        ]
        for load in loaders:
            with pytest.raises(UserError):
                load()
            assert not marker.exists(), "a checkpoint ran code while it was loaded"


def _torch_load_calls() -> list[tuple[str, int, ast.Call]]:
    calls = []
    for path in SRC.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "load"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "torch"
            ):
                calls.append((str(path.relative_to(SRC)), node.lineno, node))
    return calls


def test_every_torch_load_in_the_source_is_weights_only() -> None:
    """A static guard: a new ``torch.load`` without ``weights_only=True`` fails here."""
    calls = _torch_load_calls()
    assert calls, "no torch.load found: the scan is broken"
    for where, line, call in calls:
        flags = {kw.arg: kw.value for kw in call.keywords}
        value = flags.get("weights_only")
        assert isinstance(value, ast.Constant) and value.value is True, f"{where}:{line}"
    for path in SRC.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "pickle.load" not in text and "allow_pickle=True" not in text, path


def _registry_copy(tiny: Tiny, folder: Path) -> Path:
    registry = folder / "registry"
    shutil.copytree(tiny.registry, registry)
    return registry


def _flip_byte(path: Path, offset: int | None = None) -> None:
    data = bytearray(path.read_bytes())
    at = len(data) // 2 if offset is None else offset
    data[at] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("target", ["model.onnx", "classifier.npz"])
def test_a_tampered_package_is_refused_by_the_api(tiny: Tiny, tmp_path: Path, target: str) -> None:
    registry = _registry_copy(tiny, tmp_path)
    package = registry / tiny.model_id
    assert (package / target).is_file()
    _flip_byte(package / target)
    app = create_app(make_settings(tiny, tmp_path / "data", registry=registry))
    with pytest.raises(UserError, match="sha256"), TestClient(app):
        pass


def test_an_intact_copy_loads(tiny: Tiny, tmp_path: Path) -> None:
    """The control of the test above: the same copy, untouched, serves."""
    registry = _registry_copy(tiny, tmp_path)
    app = create_app(make_settings(tiny, tmp_path / "data", registry=registry))
    with TestClient(app) as client:
        assert client.get("/readyz").status_code == 200


@pytest.mark.slow
def test_dermcad_serve_does_not_start_on_a_tampered_model(tiny: Tiny, tmp_path: Path) -> None:
    import os

    registry = _registry_copy(tiny, tmp_path)
    _flip_byte(registry / tiny.model_id / "model.onnx")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DERMCAD_")}
    env.update({"DERMCAD_REGISTRY": str(registry), "DERMCAD_DATA_DIR": str(tmp_path / "data")})
    result = subprocess.run(
        [sys.executable, "-m", "dermcad.cli.main", "serve", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 2 and "Traceback" not in output
    assert "sha256" in output and output.strip().count("\n") == 0  # one line, before uvicorn


def test_offline_predict_refuses_a_tampered_model(tiny: Tiny, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from dermcad.cli.main import app

    registry = _registry_copy(tiny, tmp_path)
    _flip_byte(registry / tiny.model_id / "model.onnx")
    result = CliRunner().invoke(
        app,
        [
            "predict",
            str(tiny.images[0]),
            "--model",
            str(registry / tiny.model_id),
            "--out",
            str(tmp_path / "out.csv"),
        ],
    )
    assert result.exit_code == 2 and "sha256" in result.output
    assert not (tmp_path / "out.csv").exists()
