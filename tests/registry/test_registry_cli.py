"""``dermcad registry list|show|verify|remove``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from dermcad.cli.main import app
from serving.tiny import Tiny

runner = CliRunner()


def _registry(tiny: Tiny, tmp_path: Path) -> Path:
    registry = tmp_path / "reg"
    shutil.copytree(tiny.registry, registry)
    return registry


def test_list_and_show(tiny: Tiny, tmp_path: Path) -> None:
    registry = _registry(tiny, tmp_path)
    listed = runner.invoke(app, ["registry", "list", "--registry", str(registry)])
    assert listed.exit_code == 0 and listed.output.startswith("tiny\ttest_resnet\t64px\tfp32")
    shown = runner.invoke(app, ["registry", "show", "tiny", "--registry", str(registry)])
    assert shown.exit_code == 0 and json.loads(shown.output)["id"] == "tiny"


def test_registry_from_the_environment(tiny: Tiny, tmp_path: Path) -> None:
    registry = _registry(tiny, tmp_path)
    listed = runner.invoke(app, ["registry", "list"], env={"DERMCAD_REGISTRY": str(registry)})
    assert listed.exit_code == 0 and "tiny" in listed.output


def test_verify_passes_then_catches_tampering(tiny: Tiny, tmp_path: Path) -> None:
    registry = _registry(tiny, tmp_path)
    ok = runner.invoke(app, ["registry", "verify", "tiny", "--registry", str(registry)])
    assert ok.exit_code == 0, ok.output
    assert [line.split("\t")[:2] for line in ok.output.splitlines()] == [
        ["ok", "schema"],
        ["ok", "sha256"],
        ["ok", "guard"],
        ["ok", "parity"],
    ]
    assert "guard\tabsent" in ok.output  # the tiny package, like older ones, has no guard
    manifest_path = registry / "tiny" / "model.json"
    data = json.loads(manifest_path.read_text())
    data["parity"]["logits"][0][0] += 5.0
    manifest_path.write_text(json.dumps(data))
    bad_parity = runner.invoke(app, ["registry", "verify", "tiny", "--registry", str(registry)])
    assert bad_parity.exit_code == 1 and "FAIL\tparity" in bad_parity.output
    with (registry / "tiny" / "model.onnx").open("ab") as handle:
        handle.write(b"x")
    bad_sha = runner.invoke(app, ["registry", "verify", "tiny", "--registry", str(registry)])
    assert bad_sha.exit_code == 1 and "FAIL\tsha256" in bad_sha.output
    data["classes"] = ["only-one"]
    manifest_path.write_text(json.dumps(data))
    bad_schema = runner.invoke(app, ["registry", "verify", "tiny", "--registry", str(registry)])
    assert bad_schema.exit_code == 1 and "FAIL\tschema" in bad_schema.output


def test_remove_and_unknown(tiny: Tiny, tmp_path: Path) -> None:
    registry = _registry(tiny, tmp_path)
    removed = runner.invoke(app, ["registry", "remove", "tiny", "--registry", str(registry)])
    assert removed.exit_code == 0 and not (registry / "tiny").exists()
    again = runner.invoke(app, ["registry", "remove", "tiny", "--registry", str(registry)])
    assert again.exit_code == 2 and again.output.count("\n") == 1
