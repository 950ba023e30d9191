"""Manifests users receive hold no path of the machine that built them.

An absolute path inside the run directory becomes relative to it; any other absolute path keeps
only its file name (the dataset's fingerprint, recorded beside it, identifies the file).
"""

from __future__ import annotations

from pathlib import PurePosixPath, PureWindowsPath
from typing import Any


def _is_absolute(text: str) -> bool:
    return PurePosixPath(text).is_absolute() or PureWindowsPath(text).is_absolute()


def portable_path(text: str, run_dir: str) -> str:
    """``text`` relative to ``run_dir`` when inside it, its name when elsewhere, else unchanged."""
    if not _is_absolute(text):
        return text
    path, base = PurePosixPath(text), PurePosixPath(run_dir)
    if path.is_relative_to(base) and path != base:
        return str(path.relative_to(base))
    return PurePosixPath(text.replace("\\", "/")).name


def portable(value: Any, run_dir: str) -> Any:
    """``value`` (JSON-like) with every absolute path string made portable."""
    if isinstance(value, dict):
        return {k: portable(v, run_dir) for k, v in value.items()}
    if isinstance(value, list):
        return [portable(v, run_dir) for v in value]
    if isinstance(value, str):
        return portable_path(value, run_dir)
    return value
