"""Full-size ISIC photographs (the CC0 fixtures of tests/fixtures/isic-uda1) through the API."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from api.conftest import upload
from dermcad.inference.predict import predict_files
from dermcad.inference.runner import ModelRunner
from dermcad.registry.store import open_package
from dermcad.taxonomy import CLASSES
from serving.tiny import Tiny

ISIC_REAL = Path(__file__).resolve().parents[1] / "fixtures" / "isic-uda1" / "images"


@pytest.mark.slow
def test_full_size_isic_jpegs_match_offline_prediction(client: TestClient, tiny: Tiny) -> None:
    paths = sorted(ISIC_REAL.glob("*.jpg"))
    chosen = sorted(paths, key=lambda p: p.stat().st_size)[-4:] + paths[:: max(1, len(paths) // 8)]
    response = client.post("/predict_bulk", files=[("files", upload(p)) for p in chosen])
    assert response.status_code == 200
    items = client.get(f"/from_task/{response.json()['task_uuid']}", params={"wait": 120}).json()
    assert [i["name"] for i in items] == [p.name for p in chosen]
    for item, path in zip(items, chosen, strict=True):
        with Image.open(path) as image:
            assert (item["width"], item["height"]) == image.size
        assert item["error"] is None
    runner = ModelRunner.open(open_package(tiny.registry, tiny.model_id))
    offline = predict_files(runner, [(p.name, p) for p in chosen], tiny.model_id)
    api = np.array([[i["probabilities"][c] for c in CLASSES] for i in items])
    cli = np.array([[i["probabilities"][c] for c in CLASSES] for i in offline])
    assert np.abs(api - cli).max() < 1e-6
    assert max(i["width"] * i["height"] for i in items) > 4_000_000  # full-size photographs
