"""The web UI: a static single page (HTML, CSS, JavaScript modules) served by the API at ``/``.

Nothing here runs Python at request time; the API mounts :func:`static_dir` with
``StaticFiles(directory=static_dir(), html=True)``. The page talks only to the public HTTP API.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["static_dir"]


def static_dir() -> Path:
    """The folder holding ``index.html`` and its assets."""
    return Path(__file__).resolve().parent / "static"
