"""Fixtures shared by the test suite (data stage: real data location, a synthetic dataset)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the project root; tests using it are marked ``realdata``.

    Without that folder they are skipped, unless ``DERMCAD_REQUIRE_REAL_DATA=1`` (CI) makes
    its absence a failure.
    """
    if not SHARED_DATA.is_dir():
        message = (
            "the full training sets are not beside this checkout (../shared/data, see docs/data.md "
            "for how to download them); set DERMCAD_REQUIRE_REAL_DATA=1 to fail instead of skipping"
        )
        if os.environ.get("DERMCAD_REQUIRE_REAL_DATA") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return SHARED_DATA


@pytest.fixture(scope="session")
def synthetic_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 240-image synthetic dataset (64 px, seed 0), made once per session; do not modify."""
    from dermcad.data.synthetic import make_synthetic_dataset

    return make_synthetic_dataset(tmp_path_factory.mktemp("synthetic"), 240, seed=0)
