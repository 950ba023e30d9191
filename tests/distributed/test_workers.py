"""Real ``dermcad worker`` processes against a real Redis: sharing work, surviving ``kill -9`` of a
worker mid-task and a Redis restart mid-run without losing an accepted task."""

from __future__ import annotations

import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from serving.tiny import Tiny

from .conftest import MakeClient, StartWorker
from .redis_server import RedisServer

pytestmark = [pytest.mark.redis, pytest.mark.slow]


def bulk(tiny: Tiny, repeat: int) -> list[tuple[str, tuple[str, bytes, str]]]:
    """``48 * repeat`` images (the fixture's images, repeated): a task of some length."""
    files = [("files", (p.name, p.read_bytes(), "image/jpeg")) for p in tiny.images]
    return files * repeat


def submit(client: TestClient, tiny: Tiny, repeat: int) -> str:
    response = client.post("/predict_bulk", files=bulk(tiny, repeat))
    assert response.status_code == 200, response.text
    task_id: str = response.json()["task_uuid"]
    return task_id


def fields(client: TestClient, task_id: str) -> dict[str, str]:
    found: dict[str, str] = client.app.state.serving.backend.store.fields(task_id)  # type: ignore[attr-defined]
    return found


def wait_running(client: TestClient, task_ids: list[str], timeout: float = 30.0) -> str:
    """The first task seen running with some images done (polled every 5 ms)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for task_id in task_ids:
            record = fields(client, task_id)
            if record.get("status") == "running" and int(record.get("done", 0)) > 0:
                return task_id
        time.sleep(0.005)
    pytest.fail("no task started running")


def assert_all_done(client: TestClient, task_ids: list[str], images: int) -> list[dict[str, Any]]:
    records = []
    for task_id in task_ids:
        response = client.get(f"/from_task/{task_id}?wait=60")
        assert response.status_code == 200, response.text
        items = response.json()
        assert len(items) == images
        assert all(item["error"] is None and item["probabilities"] for item in items)
        records.append(fields(client, task_id))
    return records


def test_two_workers_share_a_bulk_load(
    make_client: MakeClient, start_worker: StartWorker, tiny: Tiny
) -> None:
    workers = [start_worker(), start_worker()]
    client = make_client()
    task_ids = [submit(client, tiny, 2) for _ in range(8)]
    records = assert_all_done(client, task_ids, 96)
    ran_on = {record["worker"].rsplit(":", 1)[1] for record in records}
    assert ran_on == {str(worker.pid) for worker in workers}  # both did some of the work


def test_kill_9_of_a_worker_mid_task_and_every_task_completes(
    make_client: MakeClient, start_worker: StartWorker, tiny: Tiny
) -> None:
    workers = {str(w.pid): w for w in (start_worker(), start_worker())}
    client = make_client()
    task_ids = [submit(client, tiny, 10) for _ in range(3)]
    victim_task = wait_running(client, task_ids)
    victim = workers[fields(client, victim_task)["worker"].rsplit(":", 1)[1]]
    victim.kill()
    assert fields(client, victim_task)["status"] == "running"  # cut off mid-task

    records = assert_all_done(client, task_ids, 480)
    redone = fields(client, victim_task)
    assert redone["attempts"] == "2"  # delivered again (after the visibility timeout)
    assert redone["worker"].rsplit(":", 1)[1] != str(victim.pid)
    assert all(record["status"] == "done" for record in records)


def test_kill_9_of_a_prefork_child_redelivers_at_once(
    make_client: MakeClient, start_worker: StartWorker, tiny: Tiny
) -> None:
    import os
    import signal

    start_worker("--pool=prefork", "--concurrency=1")
    client = make_client()
    task_id = submit(client, tiny, 10)
    wait_running(client, [task_id])
    child = int(fields(client, task_id)["worker"].rsplit(":", 1)[1])
    os.kill(child, signal.SIGKILL)  # the pool child dies; the parent rejects with requeue
    assert_all_done(client, [task_id], 480)
    after = fields(client, task_id)
    assert after["attempts"] == "2" and after["worker"].rsplit(":", 1)[1] != str(child)


def test_redis_restarted_mid_run_and_no_accepted_task_is_lost(
    make_client: MakeClient, start_worker: StartWorker, tiny: Tiny, redis_server: RedisServer
) -> None:
    start_worker(), start_worker()
    client = make_client()
    task_ids = [submit(client, tiny, 5) for _ in range(6)]
    wait_running(client, task_ids)

    redis_server.stop()
    start = time.monotonic()
    refused = client.post("/predict_bulk", files=bulk(tiny, 1))
    assert refused.status_code == 503 and "unreachable" in refused.json()["detail"]
    assert time.monotonic() - start < 5.0
    time.sleep(1.0)
    redis_server.start()  # same port, same data folder (append-only file)

    task_ids.append(submit(client, tiny, 1))  # accepted again once Redis is back
    records = assert_all_done(client, task_ids[:-1], 240)
    assert_all_done(client, task_ids[-1:], 48)
    assert all(record["status"] == "done" for record in records)
