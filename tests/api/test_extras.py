"""dermcad's endpoints beyond the thesis (docs/architecture.md), CORS and API keys."""

from __future__ import annotations

import io
import json
import re

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from api.conftest import AppFactory, upload
from serving.tiny import Tiny


def _done_task(client: TestClient, tiny: Tiny, n: int = 3) -> tuple[str, list[dict]]:
    response = client.post("/predict_bulk", files=[("files", upload(p)) for p in tiny.images[:n]])
    task_id = response.json()["task_uuid"]
    return task_id, client.get(f"/from_task/{task_id}").json()


def test_models_cards(client: TestClient, tiny: Tiny) -> None:
    [card] = client.get("/models").json()["models"]
    assert card["id"] == tiny.model_id and card["default"] is True
    assert card["net_type"] == "test_resnet" and card["img_size"] == 64
    assert card["test_melanoma_auc"] == 0.5
    assert card["operating_point"].startswith("median")
    assert card["has_heatmaps"] is True


def test_model_manifest_is_the_package_manifest(client: TestClient, tiny: Tiny) -> None:
    response = client.get(f"/models/{tiny.model_id}")
    assert response.status_code == 200
    on_disk = json.loads((tiny.package / "model.json").read_text())
    assert response.json() == on_disk
    missing = client.get("/models/unknown")
    assert missing.status_code == 404 and tiny.model_id in missing.json()["detail"]


def test_task_status_and_delete(client: TestClient, tiny: Tiny, tmp_path) -> None:
    task_id, _ = _done_task(client, tiny)
    info = client.get(f"/tasks/{task_id}").json()
    assert info["status"] == "done" and info["progress"] == {"done": 3, "total": 3}
    assert info["model_id"] == tiny.model_id and info["error"] is None
    assert re.match(r"\d{4}-\d\d-\d\dT", info["created"])
    assert (tmp_path / "data" / "tasks" / task_id).is_dir()
    assert client.delete(f"/tasks/{task_id}").status_code == 204
    assert client.get(f"/tasks/{task_id}").status_code == 404
    assert client.get(f"/from_task/{task_id}").status_code == 404
    assert client.delete(f"/tasks/{task_id}").status_code == 404
    assert not (tmp_path / "data" / "tasks" / task_id).exists()


def test_heatmap_is_a_png_overlay_of_the_image(client: TestClient, tiny: Tiny) -> None:
    task_id, items = _done_task(client, tiny, 2)
    url = items[1]["heatmap_url"]
    assert url == f"/tasks/{task_id}/heatmaps/1.png"
    response = client.get(url)
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    with Image.open(io.BytesIO(response.content)) as png, Image.open(tiny.images[1]) as original:
        assert png.format == "PNG" and png.size == original.size
    assert client.get(f"/tasks/{task_id}/heatmaps/2.png").status_code == 404
    assert client.get(f"/tasks/{task_id}/heatmaps/-1.png").status_code in (404, 422)
    assert client.get("/tasks/nope/heatmaps/0.png").status_code == 404


def test_probes(client: TestClient, tiny: Tiny) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"ready": True, "models": [tiny.model_id], "queue_running": True}


def test_metrics_count_requests_and_images(client: TestClient, tiny: Tiny) -> None:
    _done_task(client, tiny, 3)
    text = client.get("/metrics").text
    assert f'dermcad_images_classified_total{{model="{tiny.model_id}"}} 3.0' in text
    assert (
        'dermcad_http_requests_total{method="POST",route="/predict_bulk",status="200"} 1.0' in text
    )
    assert (
        'dermcad_http_request_duration_seconds_bucket{le="0.005",method="GET",route="/from_task/{task_uuid}"}'
        in text
    )
    assert "dermcad_queue_depth 0.0" in text


def test_docs_and_openapi(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/public_models", "/predict", "/predict_bulk", "/from_task/{task_uuid}"):
        assert path in paths


def test_web_ui_is_served_at_the_root(client: TestClient) -> None:
    from dermcad.api.app import static_dir

    if static_dir() is None:
        pytest.skip("the web UI is not in this checkout")
    response = client.get("/")
    assert response.status_code == 200 and "text/html" in response.headers["content-type"]


def test_cors_is_off_by_default(client: TestClient) -> None:
    response = client.get("/public_models", headers={"Origin": "http://elsewhere.example"})
    assert "access-control-allow-origin" not in response.headers


def test_cors_allows_configured_origins(serve: AppFactory) -> None:
    with serve(cors_origins=["http://ui.example"]) as client:
        preflight = client.options(
            "/predict",
            headers={"Origin": "http://ui.example", "Access-Control-Request-Method": "POST"},
        )
        assert preflight.headers["access-control-allow-origin"] == "http://ui.example"
        other = client.get("/public_models", headers={"Origin": "http://evil.example"})
        assert "access-control-allow-origin" not in other.headers


def test_api_keys(serve: AppFactory, tiny: Tiny) -> None:
    key = "k" * 20
    with serve(api_keys=[key]) as client:
        assert client.get("/public_models").status_code == 401
        wrong = client.get("/public_models", headers={"Authorization": "Bearer " + "x" * 20})
        assert wrong.status_code == 401
        auth = {"Authorization": f"Bearer {key}"}
        assert client.get("/public_models", headers=auth).status_code == 200
        posted = client.post("/predict", headers=auth, files={"file": upload(tiny.images[0])})
        assert posted.status_code == 200
        assert client.get(f"/from_task/{posted.json()['task_uuid']}").status_code == 401
        assert client.get("/healthz").status_code == 200
