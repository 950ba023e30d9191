from __future__ import annotations

import pytest

from serving.tiny import Tiny, get_tiny


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Tiny:
    return get_tiny(tmp_path_factory)
