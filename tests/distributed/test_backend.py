"""The distributed back end behind the API, with a real Redis and the worker's code run in this
process (the Celery workers themselves are exercised in test_workers.py)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from fastapi.testclient import TestClient

from dermcad.inference.runner import ModelRunner
from dermcad.tasks.distributed.config import DistributedConfig
from dermcad.tasks.distributed.worker import WorkerContext
from serving.tiny import Tiny

from .conftest import MakeClient
from .redis_server import free_port

pytestmark = pytest.mark.redis


def files_of(tiny: Tiny, count: int) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("files", (p.name, p.read_bytes(), "image/jpeg")) for p in tiny.images[:count]]


def worker_here(
    client: TestClient, runners: Mapping[str, ModelRunner] | None = None
) -> WorkerContext:
    """The code a ``dermcad worker`` runs for one delivery, with the API's own model runners."""
    config = DistributedConfig.from_settings(client.app.state.settings)  # type: ignore[attr-defined]
    served = runners if runners is not None else client.app.state.serving.runners  # type: ignore[attr-defined]
    return WorkerContext(config, lambda: served)


def redis_fields(client: TestClient, task_id: str) -> dict[str, str]:
    backend = client.app.state.serving.backend  # type: ignore[attr-defined]
    fields: dict[str, str] = backend.store.fields(task_id)
    return fields


def test_records_and_results_are_shared_by_api_replicas(
    make_client: MakeClient, tiny: Tiny
) -> None:
    first, second = make_client(), make_client()
    created = first.post("/predict_bulk", files=files_of(tiny, 5)).json()
    task_id = created["task_uuid"]
    assert second.get(f"/tasks/{task_id}").json()["status"] == "queued"
    assert second.get(f"/from_task/{task_id}?wait=0").status_code == 202

    worker_here(first).execute(task_id)

    items = second.get(f"/from_task/{task_id}").json()
    assert [item["name"] for item in items] == [p.name for p in tiny.images[:5]]
    assert all(item["error"] is None and item["probabilities"] for item in items)
    heat = second.get(items[0]["heatmap_url"])  # drawn by the replica that did not submit
    assert heat.status_code == 200 and heat.content.startswith(b"\x89PNG")
    assert second.delete(f"/tasks/{task_id}").status_code == 204
    assert first.get(f"/tasks/{task_id}").status_code == 404


def test_same_items_as_the_embedded_back_end(
    make_client: MakeClient, tiny: Tiny, tmp_path: Any
) -> None:
    distributed = make_client()
    embedded = make_client(broker_url=None, data_dir=tmp_path / "embedded")
    files = files_of(tiny, 9)
    task_d = distributed.post("/predict_bulk", files=files).json()["task_uuid"]
    task_e = embedded.post("/predict_bulk", files=files).json()["task_uuid"]
    worker_here(distributed).execute(task_d)
    items_d = distributed.get(f"/from_task/{task_d}").json()
    items_e = embedded.get(f"/from_task/{task_e}").json()
    for item_d, item_e in zip(items_d, items_e, strict=True):
        assert item_d["heatmap_url"] == item_e["heatmap_url"].replace(task_e, task_d)
        item_d.pop("heatmap_url"), item_e.pop("heatmap_url")
        assert item_d == item_e


def test_full_queue_is_503_with_retry_after(make_client: MakeClient, tiny: Tiny) -> None:
    client = make_client(max_queued_tasks=2)
    accepted = [client.post("/predict_bulk", files=files_of(tiny, 1)) for _ in range(2)]
    assert [r.status_code for r in accepted] == [200, 200]
    refused = client.post("/predict_bulk", files=files_of(tiny, 1))
    assert refused.status_code == 503
    assert int(refused.headers["retry-after"]) > 0
    assert "queue is full" in refused.json()["detail"]
    worker_here(client).execute(accepted[0].json()["task_uuid"])  # one finishes: room again
    assert client.post("/predict_bulk", files=files_of(tiny, 1)).status_code == 200


def test_task_failing_every_time_is_failed_with_its_reason(
    make_client: MakeClient, tiny: Tiny
) -> None:
    from celery.exceptions import Reject

    client = make_client(models=["tiny", "other=tiny"], task_attempts=3)
    task_id = client.post("/predict_bulk?model_id=other", files=files_of(tiny, 2)).json()[
        "task_uuid"
    ]
    worker = worker_here(client, {"tiny": client.app.state.serving.runners["tiny"]})  # type: ignore[attr-defined]
    for attempt in (1, 2):  # the message goes back to the queue after each failed attempt
        with pytest.raises(Reject):
            worker.execute(task_id)
        assert client.get(f"/tasks/{task_id}").json()["status"] == "running"
        assert redis_fields(client, task_id)["attempts:0"] == str(attempt)
    worker.execute(task_id)
    record = client.get(f"/tasks/{task_id}").json()
    assert record["status"] == "failed"
    assert "failed 3 times" in record["error"] and "'other' is not served" in record["error"]
    items = client.get(f"/from_task/{task_id}").json()
    assert len(items) == 2 and all("not served" in item["error"] for item in items)
    assert redis_fields(client, task_id)["attempts"] == "3"


def test_part_whose_worker_keeps_dying_ends_as_error_items(
    make_client: MakeClient, tiny: Tiny
) -> None:
    client = make_client(task_attempts=2, images_per_part=2)
    task_id = client.post("/predict_bulk", files=files_of(tiny, 4)).json()["task_uuid"]
    worker = worker_here(client)
    store = client.app.state.serving.backend.store  # type: ignore[attr-defined]
    for _ in range(2):  # two deliveries of part 0 whose workers vanished (claimed, never finished)
        assert store.claim(task_id, 0, "lost-worker") > 0
    worker.execute(task_id, 0, 2)  # the third delivery of the poison part: given up
    assert client.get(f"/tasks/{task_id}").json()["status"] == "running"  # part 2 still to run
    worker.execute(task_id, 2, 4)
    record = client.get(f"/tasks/{task_id}").json()
    assert record["status"] == "done" and record["progress"]["done"] == 4
    items = client.get(f"/from_task/{task_id}").json()
    reason = "gave up after 2 attempts; last: the worker running it was lost"
    assert [item["error"] for item in items[:2]] == [reason, reason]
    assert [item["name"] for item in items] == [p.name for p in tiny.images[:4]]
    assert all(item["error"] is None and item["probabilities"] for item in items[2:])


def test_redelivery_of_a_finished_task_changes_nothing(make_client: MakeClient, tiny: Tiny) -> None:
    client = make_client()
    task_id = client.post("/predict_bulk", files=files_of(tiny, 3)).json()["task_uuid"]
    worker = worker_here(client)
    worker.execute(task_id)
    before = client.get(f"/from_task/{task_id}").json()
    worker.execute(task_id)  # a duplicate delivery (visibility timeout passed, worker was slow)
    assert client.get(f"/from_task/{task_id}").json() == before
    assert redis_fields(client, task_id)["attempts"] == "1"


def test_finished_tasks_expire_after_the_ttl(make_client: MakeClient, tiny: Tiny) -> None:
    client = make_client(ttl_seconds=1.0)
    task_id = client.post("/predict_bulk", files=files_of(tiny, 2)).json()["task_uuid"]
    backend = client.app.state.serving.backend  # type: ignore[attr-defined]
    keys = backend.store.keys(task_id)
    assert all(backend.client.ttl(key) == -1 for key in keys[:2])  # unfinished: kept
    worker_here(client).execute(task_id)
    assert all(0 < backend.client.pttl(key) <= 1000 for key in keys)
    assert backend.queue_depth() == 0
    time.sleep(1.1)
    assert client.get(f"/tasks/{task_id}").status_code == 404
    assert backend.client.exists(*keys) == 0


def test_deleted_task_is_not_brought_back_by_its_worker(
    make_client: MakeClient, tiny: Tiny
) -> None:
    client = make_client()
    task_id = client.post("/predict_bulk", files=files_of(tiny, 2)).json()["task_uuid"]
    assert client.delete(f"/tasks/{task_id}").status_code == 204
    worker_here(client).execute(task_id)
    backend = client.app.state.serving.backend  # type: ignore[attr-defined]
    assert backend.client.exists(*backend.store.keys(task_id)) == 0
    assert client.get(f"/tasks/{task_id}").status_code == 404


def test_task_too_large_for_redis_is_refused(make_client: MakeClient, tiny: Tiny) -> None:
    client = make_client(max_task_bytes=20_000)
    response = client.post("/predict_bulk", files=files_of(tiny, 10))
    assert response.status_code == 413
    assert "limit of 20000 bytes per task" in response.json()["detail"]
    assert client.app.state.serving.backend.queue_depth() == 0  # type: ignore[attr-defined]


@pytest.fixture
def black_hole() -> Iterator[str]:
    """A Redis URL whose server accepts connections and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield f"redis://127.0.0.1:{sock.getsockname()[1]}/0"


@pytest.mark.parametrize("where", ["closed port", "silent server"])
def test_unreachable_redis_is_503_with_a_reason_not_a_hang(
    make_client: MakeClient, tiny: Tiny, black_hole: str, where: str
) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0" if where == "closed port" else black_hole
    client = make_client(broker_url=url, broker_timeout=0.3)
    for method, path, kwargs in [
        ("POST", "/predict_bulk", {"files": files_of(tiny, 1)}),
        ("GET", "/from_task/0f6a5c1e-0000-4000-8000-000000000000", {}),
        ("GET", "/tasks/0f6a5c1e-0000-4000-8000-000000000000", {}),
    ]:
        start = time.monotonic()
        response = client.request(method, path, **kwargs)
        assert time.monotonic() - start < 5.0
        assert response.status_code == 503, response.text
        assert "Redis at redis://127.0.0.1" in response.json()["detail"]
        assert "unreachable" in response.json()["detail"]
    assert client.get("/readyz").status_code == 503


def test_a_task_in_parts_gives_the_items_of_a_task_in_one_part(
    make_client: MakeClient, tiny: Tiny
) -> None:
    whole, in_parts = make_client(), make_client(images_per_part=3)
    files = files_of(tiny, 10)
    task_whole = whole.post("/predict_bulk", files=files).json()["task_uuid"]
    task_parts = in_parts.post("/predict_bulk", files=files).json()["task_uuid"]
    assert redis_fields(in_parts, task_parts)["parts"] == "4"
    worker = worker_here(in_parts)
    worker.execute(task_whole)
    for count, (start, stop) in enumerate([(6, 9), (0, 3), (9, 10), (3, 6)], start=1):
        worker.execute(task_parts, start, stop)  # parts finish in any order, on any worker
        worker.execute(task_parts, start, stop)  # a duplicate delivery is not counted twice
        info = in_parts.get(f"/tasks/{task_parts}").json()
        done = sum(stop - start for start, stop in [(6, 9), (0, 3), (9, 10), (3, 6)][:count])
        assert info["progress"] == {"done": done, "total": 10}
        assert info["status"] == ("done" if count == 4 else "running")
    items_whole = whole.get(f"/from_task/{task_whole}").json()
    items_parts = in_parts.get(f"/from_task/{task_parts}").json()
    for item_w, item_p in zip(items_whole, items_parts, strict=True):
        assert item_p.pop("heatmap_url") == item_w.pop("heatmap_url").replace(
            task_whole, task_parts
        )
        assert item_p == item_w
    assert in_parts.get(f"/tasks/{task_parts}/heatmaps/9.png").status_code == 200
    backend = in_parts.app.state.serving.backend  # type: ignore[attr-defined]
    assert backend.images_classified() == {tiny.model_id: 20.0}  # duplicates not counted


def test_a_task_whose_message_cannot_be_sent_is_not_kept(
    make_client: MakeClient, tiny: Tiny, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kombu.exceptions import OperationalError

    client = make_client(images_per_part=1)
    backend = client.app.state.serving.backend  # type: ignore[attr-defined]
    sent: list[list[object]] = []

    def send_task(name: str, args: list[object], queue: str) -> None:
        if sent:  # the second part's message is lost with the broker
            raise OperationalError("broker went away")
        sent.append(args)

    monkeypatch.setattr(backend.celery, "send_task", send_task)
    response = client.post("/predict_bulk", files=files_of(tiny, 3))
    assert response.status_code == 503 and "unreachable" in response.json()["detail"]
    task_id = str(sent[0][0])
    assert backend.client.exists(*backend.store.keys(task_id)) == 0  # nothing half-stored
    assert backend.queue_depth() == 0
    worker_here(client).execute(task_id, 0, 1)  # the message that did go out finds nothing
    assert client.get(f"/tasks/{task_id}").status_code == 404
