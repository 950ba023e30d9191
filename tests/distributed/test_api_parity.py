"""The API test suite (tests/api) again, with the distributed back end behind the app.

Every test function of tests/api is collected here a second time, unchanged, with this module's
``serve`` and ``client`` fixtures: the app gets ``broker_url`` (a real redis-server) and a real
Celery worker (the same task and code as ``dermcad worker``) runs in this process, over the
app's own model runners, so tests that hold the model still can. Where a test counts queued
tasks through a helper, the helper is pointed at Redis. The few tests that look inside the
embedded back end's own files (SQLite, the task folders) are listed in ``EMBEDDED_ONLY`` with the
test of this folder that covers the same behaviour for the distributed back end.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from api import test_extras, test_fuzz, test_queue, test_real_images, test_thesis_api
from api import test_validation as validation
from api.conftest import make_settings
from dermcad.api.app import create_app
from dermcad.tasks.distributed.worker import WorkerContext, register_task
from serving.tiny import Tiny

pytestmark = pytest.mark.redis

EMBEDDED_ONLY = {
    # asserts the task's folder under data_dir: test_backend::..._shared_by_api_replicas deletes
    "test_task_status_and_delete": "test_records_and_results_are_shared_by_api_replicas",
    # SQLite records cut off by a crash: test_workers (kill -9) and test_backend (given up)
    "test_a_task_cut_off_by_a_crash_is_run_again": "test_kill_9_of_a_worker_mid_task_...",
    "test_a_task_that_keeps_crashing_is_failed_not_stuck": "test_task_whose_worker_keeps_dying",
    # watches files on disk expire: test_backend::test_finished_tasks_expire_after_the_ttl
    "test_results_expire_with_their_images": "test_finished_tasks_expire_after_the_ttl",
    # read the stored images from data_dir: test_stored_images_are_label_free (below)
    "test_file_name_is_only_a_label": "test_stored_images_are_label_free",
    "test_exif_is_not_kept_and_orientation_is_applied": "test_stored_images_are_label_free",
    "test_what_is_stored_is_bounded_whatever_the_upload": "test_what_redis_holds_is_bounded",
    # the embedded back end wakes a waiting request; the distributed one polls Redis (a short
    # bounded pause): test_unfinished_task_answers_202_after_the_wait covers its waiting
    "test_a_waiting_from_task_is_woken_by_the_finish_not_by_polling": (
        "test_unfinished_task_answers_202_after_the_wait"
    ),
}
MODULES = (test_thesis_api, test_extras, test_queue, validation, test_real_images, test_fuzz)

for _module in MODULES:
    for _name, _func in inspect.getmembers(_module, inspect.isfunction):
        if _name.startswith("test_") and _name not in EMBEDDED_ONLY:
            globals()[_name] = _func


@pytest.fixture
def serve(tiny: Tiny, tmp_path: Path, redis_url: str) -> Callable[..., Any]:
    """As tests/api's ``serve``, with Redis and an in-process Celery worker."""
    from celery.contrib.testing.worker import start_worker

    @contextmanager
    def run(data_dir: Path | None = None, **overrides: Any) -> Iterator[TestClient]:
        overrides.setdefault("broker_url", redis_url)
        settings = make_settings(tiny, data_dir or tmp_path / "data", **overrides)
        with TestClient(create_app(settings)) as client:
            state = client.app.state.serving  # type: ignore[attr-defined]
            celery = state.backend.celery
            register_task(celery, WorkerContext(state.backend.config, lambda: state.runners))
            with start_worker(
                celery,
                pool="threads",
                concurrency=settings.workers,
                perform_ping_check=False,
                loglevel="WARNING",
                shutdown_timeout=30,
            ):
                yield client

    return run


@pytest.fixture
def client(serve: Callable[..., Any]) -> Iterator[TestClient]:
    with serve() as test_client:
        yield test_client


@pytest.fixture(autouse=True)
def _helpers_count_in_redis(
    monkeypatch: pytest.MonkeyPatch, redis_url: str, tiny: Tiny
) -> Iterator[None]:
    """tests/api's "nothing was queued" helpers, answered from Redis instead of SQLite."""
    import redis

    store = redis.Redis.from_url(redis_url)

    def task_keys(suffix: str) -> list[str]:
        keys = [k.decode() for k in store.scan_iter("dermcad:task:*")]
        return [k for k in keys if k.count(":") == 2 + bool(suffix) and k.endswith(suffix)]

    monkeypatch.setattr(validation, "_task_count", lambda data_dir: len(task_keys("")))
    monkeypatch.setattr(validation, "_stored_folders", lambda data_dir: task_keys(":images"))
    monkeypatch.setattr(
        test_fuzz,
        "make_settings",
        lambda *args, **kwargs: make_settings(*args, broker_url=redis_url, **kwargs),
    )
    yield
    store.close()


def test_stored_images_are_label_free(client: TestClient, tiny: Tiny, tmp_path: Path) -> None:
    """The distributed twin of the two validation tests above: what Redis holds of an upload."""
    import io

    from PIL import Image

    from api.conftest import upload

    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees: the upright image is 30 wide, 40 high
    exif[0x010F] = "SecretCameraMaker"
    exif[0x8298] = "Patient Name"
    files = [
        ("files", upload(tiny.images[0], "../../../../etc/cron.d/evil.jpg")),
        ("files", ("exif.jpg", validation._jpeg((40, 30), exif), "image/jpeg")),
    ]
    task_id = client.post("/predict_bulk", files=files).json()["task_uuid"]
    items = client.get(f"/from_task/{task_id}").json()
    assert [i["name"] for i in items] == ["evil.jpg", "exif.jpg"]
    assert (items[1]["width"], items[1]["height"]) == (30, 40)
    store = client.app.state.serving.backend.store  # type: ignore[attr-defined]
    _, images, cams, _ = store.keys(task_id)
    fields = sorted(store.client.hkeys(images))
    assert fields == [b"display:0", b"display:1", b"input:0", b"input:1"]
    assert sorted(store.client.hkeys(cams)) == [b"0", b"1"]
    for raw in (store.display(task_id, 1), store.model_input(task_id, 1)):
        assert b"SecretCameraMaker" not in raw and b"Patient Name" not in raw
    with Image.open(io.BytesIO(store.display(task_id, 1))) as image:
        assert image.format == "JPEG" and image.size == (30, 40) and not image.getexif()
    pixels = np.load(io.BytesIO(store.model_input(task_id, 1)), allow_pickle=False)
    side = client.app.state.serving.runners[tiny.model_id].manifest.img_size  # type: ignore[attr-defined]
    assert pixels.dtype == np.uint8 and pixels.shape == (side, side, 3)
    assert not (tmp_path / "data" / "tasks").exists()  # nothing on the API's disk


def test_what_redis_holds_is_bounded(client: TestClient) -> None:
    """The distributed twin of tests/api's bound on what is stored: a 24-megapixel flat PNG of a
    few kB costs Redis the model-sized pixels and a display copy of at most 512 px."""
    import io

    from PIL import Image

    flat = io.BytesIO()
    Image.new("RGB", (6000, 4000), (200, 120, 90)).save(flat, format="PNG")
    response = client.post("/predict", files={"file": ("flat.png", flat.getvalue(), "image/png")})
    task_id = response.json()["task_uuid"]
    [item] = client.get(f"/from_task/{task_id}").json()
    assert item["error"] is None
    store = client.app.state.serving.backend.store  # type: ignore[attr-defined]
    pixels = np.load(io.BytesIO(store.model_input(task_id, 0)), allow_pickle=False)
    side = pixels.shape[0]
    assert pixels.shape == (side, side, 3) and side < 1000
    with Image.open(io.BytesIO(store.display(task_id, 0))) as display:
        assert display.size == (512, 341)
    held = store.client.memory_usage(store.keys(task_id)[1])
    assert held < side * side * 3 + 100_000
    with Image.open(io.BytesIO(client.get(item["heatmap_url"]).content)) as overlay:
        assert overlay.size == (512, 341)
