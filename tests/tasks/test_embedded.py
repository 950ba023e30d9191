"""The embedded back end without HTTP: workers run tasks through the real tiny model."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from dermcad.registry.store import open_package
from dermcad.serving.runner import ModelRunner
from dermcad.serving.uploads import decode_upload
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
        uploads = [
            decode_upload(p.read_bytes(), p.name, draft_size=64, max_bytes=10**7, max_pixels=10**7)
            for p in images
        ]
        record = _wait(backend, backend.submit("alias", uploads, 1).id)
        assert record.status == "done" and record.done == 7
        assert seen == [("alias", 3), ("alias", 3), ("alias", 1)]
        assert record.results is not None
        got = np.array([list(item["probabilities"].values()) for item in record.results])
        assert np.abs(got - torch_probabilities(tiny.run_dir, images)).max() < 1e-4
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
        upload = decode_upload(
            tiny.images[0].read_bytes(), "a.jpg", draft_size=64, max_bytes=10**7, max_pixels=10**7
        )
        record = _wait(backend, backend.submit("gone", [upload], 1).id)
        assert record.status == "failed" and "gone" in (record.error or "")
    finally:
        backend.stop()
