"""Files users receive (models/, docs/, configs/, README.md) name no path of the build machine."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ["models", "docs", "configs", "README.md"]
# Home folders, temporary folders and work trees of the machines that trained, exported and
# documented the models; the deployment examples' /srv, /usr and /var paths are not among them.
MACHINE_PATH = re.compile(r"(?<![\w.~:/-])/(?:work|tmp|root|home|Users)/[\w.-]")


def _tracked_files(*scanned: str) -> list[Path]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: the tracked files are unknown")
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--", *scanned], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    return [p for name in listed if name and (p := ROOT / name.decode()).is_file()]


def _is_binary(path: Path) -> bool:
    return b"\0" in path.read_bytes()[:8192]


def _tracked_text_files() -> list[Path]:
    return [p for p in _tracked_files(*SCANNED) if not _is_binary(p)]


def machine_paths(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if MACHINE_PATH.search(line)]


def test_the_pattern_finds_what_it_is_for() -> None:
    assert machine_paths('"path": "/work/main/.device/data.csv"\nindex: /tmp/x/h.csv') == [
        '"path": "/work/main/.device/data.csv"',
        "index: /tmp/x/h.csv",
    ]
    assert machine_paths("-v /srv/models:/models:ro and docs/tmp/x and ~/work/a") == []


def test_no_tracked_text_file_names_a_machine_path() -> None:
    files = _tracked_text_files()
    assert any(p.name == "model.json" for p in files)
    found = {
        str(p.relative_to(ROOT)): hits
        for p in files
        if (hits := machine_paths(p.read_text(encoding="utf-8", errors="replace")))
    }
    assert found == {}


def test_no_shipped_binary_file_names_a_machine_path() -> None:
    """model.onnx once held the exporter's stack traces (docs/models.md); the weights are scanned
    too, where a chance match of a few bytes would show as a failure to look at, not pass."""
    files = [p for p in _tracked_files("models") if _is_binary(p)]
    assert any(p.name == "model.onnx" for p in files)
    found = {
        str(p.relative_to(ROOT)): hits[:3]
        for p in files
        if (hits := MACHINE_PATH.findall(p.read_bytes().decode("latin-1")))
    }
    assert found == {}
