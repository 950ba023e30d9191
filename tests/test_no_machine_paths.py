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


def _tracked_text_files() -> list[Path]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: the tracked files are unknown")
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--", *SCANNED], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    files = [ROOT / name.decode() for name in listed if name]
    return [p for p in files if p.is_file() and b"\0" not in p.read_bytes()[:8192]]


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
