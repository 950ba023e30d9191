from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def synthetic_split(synthetic_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 60/20/20 holdout split of the shared synthetic index (seed 0)."""
    from dermcad.data.index import read_index
    from dermcad.data.splits import split_holdout, write_split

    frame = read_index(synthetic_index)
    fractions = (0.6, 0.2, 0.2)
    assignment = split_holdout(frame, fractions, seed=0)
    path = tmp_path_factory.mktemp("split") / "split.json"
    return write_split(path, frame, assignment, seed=0, group_by="auto", fractions=fractions)
