"""The embedded back end without HTTP: workers run tasks through the real tiny model."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from dermcad.inference.preprocess import decode_image, to_array
from dermcad.inference.runner import ModelRunner
from dermcad.inference.uploads import prepare_uploaded_file
from dermcad.registry.store import open_package
from dermcad.tasks.base import TaskBackend, TaskRecord
from dermcad.tasks.embedded import EmbeddedBackend, EmbeddedConfig
from serving.tiny import Tiny, torch_probabilities


def _wait(backend: EmbeddedBackend, task_id: str, timeout: float = 30) -> TaskRecord:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = backend.get(task_id)
        assert record is not None
        if record.finished:
            return record
        time.sleep(0.05)
    raise AssertionError("task did not finish")


def test_backend_runs_tasks_in_batches(tiny: Tiny, tmp_path: Path) -> None:
    runner = ModelRunner.open(open_package(tiny.registry, tiny.model_id), batch_size=3)
    seen: list[tuple[str, int]] = []
    backend = EmbeddedBackend(
        EmbeddedConfig(tmp_path, workers=2), {"alias": runner}, lambda m, n: seen.append((m, n))
    )
    assert isinstance(backend, TaskBackend)
    backend.start()
    try:
        assert backend.running
        images = tiny.images[:7]
        spec = runner.manifest.spec
        uploads = [
            prepare_uploaded_file(p.read_bytes(), p.name, spec, max_bytes=10**7, max_pixels=10**7)
            for p in images
        ]
        record = _wait(backend, backend.submit("alias", uploads, 1).id)
        assert record.status == "done" and record.done == 7
        assert seen == [("alias", 3), ("alias", 3), ("alias", 1)]
        assert record.results is not None
        got = np.array([list(item["probabilities"].values()) for item in record.results])
        assert np.abs(got - torch_probabilities(tiny.run_dir, images)).max() < 1e-4
        # Exactly what the in-process path gives: decode, the one preprocessing, the runner.
        batch = np.stack(
            [to_array(decode_image(p.read_bytes(), draft_size=spec.img_size), spec) for p in images]
        )
        direct = np.array([p.probabilities for p in runner.predict(batch, 1)], dtype=np.float64)
        np.testing.assert_array_equal(got, direct)
        png = backend.heatmap_png(record.id, 6)
        assert png is not None and png.startswith(b"\x89PNG")
        assert backend.heatmap_png(record.id, 7) is None
    finally:
        backend.stop()
    assert not backend.running


def test_a_task_for_a_model_no_longer_served_fails(tiny: Tiny, tmp_path: Path) -> None:
    backend = EmbeddedBackend(EmbeddedConfig(tmp_path), {})
    backend.start()
    try:
        upload = prepare_uploaded_file(
            tiny.images[0].read_bytes(),
            "a.jpg",
            open_package(tiny.registry, tiny.model_id).manifest.spec,
            max_bytes=10**7,
            max_pixels=10**7,
        )
        record = _wait(backend, backend.submit("gone", [upload], 1).id)
        assert record.status == "failed" and "gone" in (record.error or "")
    finally:
        backend.stop()


def test_on_finish_calls_back_once_when_the_task_ends_or_is_deleted(
    tiny: Tiny, tmp_path: Path
) -> None:
    runner = ModelRunner.open(open_package(tiny.registry, tiny.model_id))
    backend = EmbeddedBackend(EmbeddedConfig(tmp_path), {"m": runner})
    upload = prepare_uploaded_file(
        tiny.images[0].read_bytes(), "a.jpg", runner.manifest.spec, max_bytes=10**7,
        max_pixels=10**7,
    )  # fmt: skip
    backend.store.open()  # records only: no worker runs until start()
    try:
        calls: list[str] = []
        done_id = backend.submit("m", [upload], 1).id
        backend.on_finish(done_id, lambda: calls.append("done"))
        cancelled = backend.on_finish(done_id, lambda: calls.append("cancelled"))
        cancelled()
        deleted_id = backend.submit("m", [upload], 1).id
        backend.on_finish(deleted_id, lambda: calls.append("deleted"))
        assert backend.delete(deleted_id) and calls == ["deleted"]
        backend.store.close()
        backend.start()
        record = _wait(backend, done_id)
        assert record.status == "done"
        deadline = time.monotonic() + 5
        while "done" not in calls and time.monotonic() < deadline:
            time.sleep(0.01)
        assert calls == ["deleted", "done"]
    finally:
        backend.stop()
