from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from dermcad.api.app import create_app
from dermcad.settings import Settings
from serving.tiny import Tiny, get_tiny

AppFactory = Callable[..., Any]


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Tiny:
    return get_tiny(tmp_path_factory)


def make_settings(tiny: Tiny, data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"registry": tiny.registry, "data_dir": data_dir, "workers": 1}
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def serve(tiny: Tiny, tmp_path: Path) -> AppFactory:
    """``with serve(**settings) as client:`` runs the real app (lifespan, workers) under httpx."""

    @contextmanager
    def run(data_dir: Path | None = None, **overrides: Any) -> Iterator[TestClient]:
        settings = make_settings(tiny, data_dir or tmp_path / "data", **overrides)
        with TestClient(create_app(settings)) as client:
            yield client

    return run


@pytest.fixture
def client(serve: AppFactory) -> Iterator[TestClient]:
    with serve() as test_client:
        yield test_client


def upload(path: Path, name: str | None = None) -> tuple[str, bytes, str]:
    return (name or path.name, path.read_bytes(), "application/octet-stream")


@pytest.fixture
def tiny_registry(tiny: Tiny) -> Path:
    return tiny.registry
