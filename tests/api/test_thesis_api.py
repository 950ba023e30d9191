"""The thesis endpoints (design.md section 6) against the real app and a real exported model."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

from api.conftest import upload
from dermcad.taxonomy import CLASSES, TARGET_INDEX
from serving.tiny import Tiny, torch_probabilities

THESIS_FIELDS = {"name", "probabilities", "metadata", "prediction"}
ADDED_FIELDS = {
    "model_id",
    "melanoma_probability",
    "threshold",
    "tta",
    "width",
    "height",
    "heatmap_url",
    "heatmap_class",
    "error",
    "in_domain",
    "ood_score",
    "ood_reason",
}


def test_public_models_lists_the_exposed_model(client: TestClient, tiny: Tiny) -> None:
    response = client.get("/public_models")
    assert response.status_code == 200
    assert response.json() == {"models": [tiny.model_id]}


def test_one_image_gives_the_thesis_item_and_the_torch_probabilities(
    client: TestClient, tiny: Tiny
) -> None:
    response = client.post(
        "/predict", params={"model_id": tiny.model_id}, files={"file": upload(tiny.images[0])}
    )
    assert response.status_code == 200
    assert set(response.json()) == {"task_uuid"}
    result = client.get(f"/from_task/{response.json()['task_uuid']}")
    assert result.status_code == 200
    [item] = result.json()
    assert set(item) == THESIS_FIELDS | ADDED_FIELDS
    assert item["name"] == tiny.images[0].name
    assert list(item["probabilities"]) == list(CLASSES)
    assert set(item["metadata"]) == {"origin", "net_type", "img_size", "out_dim"}
    assert item["metadata"]["net_type"] == "test_resnet"
    assert isinstance(item["prediction"]["label"], int)
    expected = torch_probabilities(tiny.run_dir, tiny.images[:1])[0]
    got = np.array([item["probabilities"][c] for c in CLASSES])
    assert np.abs(got - expected).max() < 1e-4
    assert item["melanoma_probability"] == pytest.approx(got[TARGET_INDEX])
    assert item["prediction"]["target"] == (item["melanoma_probability"] >= item["threshold"])
    assert item["prediction"]["prediction"] == CLASSES[item["prediction"]["label"]]
    assert (item["width"], item["height"]) == (96, 96)
    assert item["error"] is None


def test_bulk_keeps_upload_order_and_follows_the_threshold(client: TestClient, tiny: Tiny) -> None:
    images = tiny.images[:12][::-1]
    response = client.post(
        "/predict_bulk",
        params={"model_id": tiny.model_id},
        files=[("files", upload(p)) for p in images],
    )
    assert response.status_code == 200
    assert response.json()["num_images"] == len(images)
    items = client.get(f"/from_task/{response.json()['task_uuid']}").json()
    assert [i["name"] for i in items] == [p.name for p in images]
    expected = torch_probabilities(tiny.run_dir, images)
    got = np.array([[i["probabilities"][c] for c in CLASSES] for i in items])
    assert np.abs(got - expected).max() < 1e-4
    threshold = items[0]["threshold"]
    flags = [i["prediction"]["target"] for i in items]
    assert flags == [bool(p >= threshold) for p in expected[:, TARGET_INDEX]]
    assert all(i["prediction"]["label"] == TARGET_INDEX for i in items if i["prediction"]["target"])


def test_thesis_style_client_posts_then_calls_from_task_once(
    client: TestClient, tiny: Tiny
) -> None:
    """As the thesis UI: one file, then a bulk request, then one /from_task call each."""
    models = client.get("/public_models").json()["models"]
    single = client.post(
        f"/predict?model_id={models[0]}", files={"file": upload(tiny.images[1])}
    ).json()
    bulk = client.post(
        f"/predict_bulk?model_id={models[0]}",
        files=[("files", upload(p)) for p in tiny.images[2:7]],
    ).json()
    first = client.get(f"/from_task/{single['task_uuid']}")
    second = client.get(f"/from_task/{bulk['task_uuid']}")
    assert first.status_code == second.status_code == 200
    assert len(first.json()) == 1 and len(second.json()) == bulk["num_images"] == 5
    assert all(item["prediction"] is not None for item in first.json() + second.json())


def test_default_model_is_used_without_model_id(client: TestClient, tiny: Tiny) -> None:
    response = client.post("/predict", files={"file": upload(tiny.images[0])})
    assert response.status_code == 200
    [item] = client.get(f"/from_task/{response.json()['task_uuid']}").json()
    assert item["model_id"] == tiny.model_id


def test_tta_is_overridable_per_request(client: TestClient, tiny: Tiny) -> None:
    response = client.post("/predict", params={"tta": 8}, files={"file": upload(tiny.images[3])})
    [item] = client.get(f"/from_task/{response.json()['task_uuid']}").json()
    assert item["tta"] == 8
    expected = torch_probabilities(tiny.run_dir, tiny.images[3:4], tta=8)[0]
    got = np.array([item["probabilities"][c] for c in CLASSES])
    assert np.abs(got - expected).max() < 1e-4
    assert (
        client.post(
            "/predict", params={"tta": 3}, files={"file": upload(tiny.images[3])}
        ).status_code
        == 422
    )


def test_unknown_task_is_404(client: TestClient) -> None:
    response = client.get("/from_task/00000000-0000-0000-0000-000000000000", params={"wait": 0})
    assert response.status_code == 404
    assert "unknown task" in response.json()["detail"]
    assert client.get("/from_task/not-a-uuid").status_code == 404
