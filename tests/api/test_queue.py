"""The embedded queue behind the API: waiting, restarts, crash recovery, expiry, load."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.conftest import AppFactory, upload
from dermcad.inference.uploads import prepare_uploaded_file
from dermcad.registry.store import open_package
from dermcad.tasks.store import TaskStore
from serving.tiny import Tiny


def _hold_worker(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Make the model block until the returned event is set."""
    runner = client.app.state.serving.runners  # type: ignore[attr-defined]
    release = threading.Event()
    for model in runner.values():
        original = model.predict

        def held(batch, tta=None, _original=original):  # type: ignore[no-untyped-def]
            assert release.wait(30)
            return _original(batch, tta)

        monkeypatch.setattr(model, "predict", held)
    return release


def test_unfinished_task_answers_202_after_the_wait(
    client: TestClient, tiny: Tiny, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = _hold_worker(client, monkeypatch)
    task_id = client.post("/predict", files={"file": upload(tiny.images[0])}).json()["task_uuid"]
    immediate = client.get(f"/from_task/{task_id}", params={"wait": 0})
    assert immediate.status_code == 202
    body = immediate.json()
    assert body["task_uuid"] == task_id and body["status"] in ("queued", "running")
    assert body["progress"] == {"done": 0, "total": 1}
    started = time.monotonic()
    waited = client.get(f"/from_task/{task_id}", params={"wait": 0.5})
    assert waited.status_code == 202 and time.monotonic() - started >= 0.45
    assert client.get(f"/tasks/{task_id}").json()["status"] in ("queued", "running")
    early = client.get(f"/tasks/{task_id}/heatmaps/0.png")
    assert early.status_code == 409 and "not finished" in early.json()["detail"]
    release.set()
    done = client.get(f"/from_task/{task_id}", params={"wait": 30})
    assert done.status_code == 200 and len(done.json()) == 1
    assert client.get(f"/tasks/{task_id}/heatmaps/0.png").status_code == 200


def test_a_waiting_from_task_is_woken_by_the_finish_not_by_polling(
    client: TestClient, tiny: Tiny, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = client.app.state.serving  # type: ignore[attr-defined]
    reads: list[str] = []
    original_get = state.backend.get

    def counted_get(task_id: str):  # type: ignore[no-untyped-def]
        reads.append(task_id)
        return original_get(task_id)

    monkeypatch.setattr(state.backend, "get", counted_get)
    release = _hold_worker(client, monkeypatch)
    task_id = client.post("/predict", files={"file": upload(tiny.images[0])}).json()["task_uuid"]
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(client.get, f"/from_task/{task_id}", params={"wait": 60})
        time.sleep(1.0)  # a polling wait would have read the record about ten times by now
        assert not waiting.done()
        release.set()
        answer = waiting.result(timeout=30)
    assert answer.status_code == 200 and len(answer.json()) == 1
    # one read before waiting, one after the wake-up (plus at most one for a stray wake-up)
    assert 2 <= reads.count(task_id) <= 3, reads


def test_from_task_waits_at_most_the_configured_limit(
    serve: AppFactory, tiny: Tiny, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serve(from_task_wait=0.3) as client:
        release = _hold_worker(client, monkeypatch)
        task_id = client.post("/predict", files={"file": upload(tiny.images[0])}).json()
        started = time.monotonic()
        response = client.get(f"/from_task/{task_id['task_uuid']}", params={"wait": 60})
        assert response.status_code == 202 and time.monotonic() - started < 5
        release.set()


def test_results_survive_a_restart(serve: AppFactory, tiny: Tiny, tmp_path: Path) -> None:
    with serve() as client:
        task_id = client.post(
            "/predict_bulk", files=[("files", upload(p)) for p in tiny.images[:3]]
        ).json()["task_uuid"]
        before = client.get(f"/from_task/{task_id}").json()
    with serve() as client:
        after = client.get(f"/from_task/{task_id}", params={"wait": 0})
        assert after.status_code == 200 and after.json() == before
        assert client.get(f"/tasks/{task_id}/heatmaps/0.png").status_code == 200


def _interrupted_task(data_dir: Path, tiny: Tiny, claims: int) -> str:
    """A task left 'running' by a server that died, after ``claims`` attempts."""
    store = TaskStore(data_dir)
    store.open()
    spec = open_package(tiny.registry, tiny.model_id).manifest.spec
    uploads = [
        prepare_uploaded_file(p.read_bytes(), p.name, spec, max_bytes=10**8, max_pixels=10**8)
        for p in tiny.images[:2]
    ]
    task_id = store.create(tiny.model_id, uploads, 1)
    for _ in range(claims):
        store.recover(max_attempts=99, ttl=60)
        assert store.claim() is not None
    store.close()
    return task_id


def test_a_task_cut_off_by_a_crash_is_run_again(
    serve: AppFactory, tiny: Tiny, tmp_path: Path
) -> None:
    task_id = _interrupted_task(tmp_path / "data", tiny, claims=1)
    with serve() as client:
        response = client.get(f"/from_task/{task_id}", params={"wait": 30})
        assert response.status_code == 200
        assert [i["error"] for i in response.json()] == [None, None]


def test_a_task_that_keeps_crashing_is_failed_not_stuck(
    serve: AppFactory, tiny: Tiny, tmp_path: Path
) -> None:
    task_id = _interrupted_task(tmp_path / "data", tiny, claims=2)
    with serve() as client:
        info = client.get(f"/tasks/{task_id}").json()
        assert info["status"] == "failed" and "restart" in info["error"]
        items = client.get(f"/from_task/{task_id}", params={"wait": 0}).json()
        assert [i["name"] for i in items] == [p.name for p in tiny.images[:2]]
        assert all(i["error"] and i["prediction"] is None for i in items)


def test_results_expire_with_their_images(serve: AppFactory, tiny: Tiny, tmp_path: Path) -> None:
    with serve(ttl_seconds=1.0) as client:
        task_id = client.post("/predict", files={"file": upload(tiny.images[0])}).json()
        task_id = task_id["task_uuid"]
        assert client.get(f"/from_task/{task_id}").status_code == 200
        folder = tmp_path / "data" / "tasks" / task_id
        assert folder.is_dir()
        deadline = time.monotonic() + 10
        while folder.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not folder.exists()
        assert client.get(f"/from_task/{task_id}").status_code == 404
        assert client.get(f"/tasks/{task_id}").status_code == 404


def test_many_tasks_at_once_all_complete(serve: AppFactory, tiny: Tiny) -> None:
    n_tasks = 24
    with serve(workers=2, batch_size=4) as client:

        def one(i: int) -> tuple[str, int, list[dict]]:
            images = tiny.images[i % 10 : i % 10 + 1 + i % 5]
            posted = client.post(
                "/predict_bulk", files=[("files", upload(p)) for p in images]
            ).json()
            return posted["task_uuid"], len(images), []

        with ThreadPoolExecutor(8) as pool:
            submitted = list(pool.map(one, range(n_tasks)))
        assert len({task_id for task_id, _, _ in submitted}) == n_tasks
        for task_id, count, _ in submitted:
            response = client.get(f"/from_task/{task_id}", params={"wait": 60})
            assert response.status_code == 200
            items = response.json()
            assert len(items) == count and all(i["error"] is None for i in items)
        assert client.app.state.serving.backend.queue_depth() == 0  # type: ignore[attr-defined]
