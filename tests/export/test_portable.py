"""A published manifest names no path of the machine that built it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dermcad.export.from_run import ExportOptions, export_run
from dermcad.export.portable import portable
from serving.tiny import Tiny


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []


def test_paths_become_relative_to_the_run_or_bare_names() -> None:
    value = {
        "index": {"path": "/build/runs/r1/data/index.csv", "fingerprint": "ab"},
        "split": ["/elsewhere/split.json", "C:\\data\\w.pth", "data/relative.csv"],
        "name": "warmup-cosine",
    }
    assert portable(value, "/build/runs/r1") == {
        "index": {"path": "data/index.csv", "fingerprint": "ab"},
        "split": ["split.json", "w.pth", "data/relative.csv"],
        "name": "warmup-cosine",
    }


def test_an_exported_manifest_holds_no_absolute_path(tiny: Tiny, tmp_path: Path) -> None:
    export_run(tiny.run_dir, tmp_path / "reg", "m1", ExportOptions())
    manifest = json.loads((tmp_path / "reg" / "m1" / "model.json").read_text(encoding="utf-8"))
    run_json = json.loads((tiny.run_dir / "run.json").read_text(encoding="utf-8"))
    assert any(s.startswith("/") for s in _strings(run_json))  # the run itself records them
    absolute = [s for s in _strings(manifest) if s.startswith("/")]
    assert absolute == []
    assert manifest["dataset"]["index"]["path"] == Path(run_json["index"]["path"]).name
