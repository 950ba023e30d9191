"""Task records in SQLite: written before work, claimed once, recovered after a crash, expired."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dermcad.inference.preprocess import PreprocessSpec
from dermcad.inference.uploads import PreparedImage, Upload, prepare_upload
from dermcad.tasks.execution import FolderImages
from dermcad.tasks.store import TaskStore


def _uploads(n: int) -> list[PreparedImage]:
    spec = PreprocessSpec(img_size=16)
    return [
        prepare_upload(Upload(f"img{i}.png", Image.new("RGB", (8, 6), (i, 0, 0)), 8, 6), spec)
        for i in range(n)
    ]


@pytest.fixture
def store(tmp_path: Path) -> TaskStore:
    opened = TaskStore(tmp_path)
    opened.open()
    yield opened
    opened.close()


def test_create_writes_images_then_a_queued_record(store: TaskStore) -> None:
    task_id = store.create("m", _uploads(3), 4)
    record = store.get(task_id)
    assert record is not None
    assert (record.status, record.done, record.total, record.tta) == ("queued", 0, 3, 4)
    assert [i["name"] for i in record.images] == ["img0.png", "img1.png", "img2.png"]
    files = sorted(p.name for p in store.task_dir(task_id).iterdir())
    assert files == [f"{i}.{kind}" for i in range(3) for kind in ("display.jpg", "input.npy")]
    worker = FolderImages(store.task_dir(task_id))
    for i in range(3):  # what the worker reads back is exactly the model-ready pixels
        pixels = worker.model_input(i)
        assert pixels.dtype == np.uint8 and pixels.shape == (16, 16, 3)
        assert (pixels == np.array([i, 0, 0], np.uint8)).all()
        with worker.display(i) as display:
            assert display.format == "JPEG" and display.size == (8, 6)
    assert store.count_unfinished() == 1


def test_claim_takes_the_oldest_task_once(store: TaskStore) -> None:
    first = store.create("m", _uploads(1), 1)
    second = store.create("m", _uploads(1), 1)
    claimed = [store.claim(), store.claim(), store.claim()]
    assert [c.id if c else None for c in claimed] == [first, second, None]
    assert store.get(first).status == "running"  # type: ignore[union-attr]


def test_finish_and_progress(store: TaskStore) -> None:
    task_id = store.create("m", _uploads(2), 1)
    store.claim()
    store.progress(task_id, 1)
    assert store.get(task_id).done == 1  # type: ignore[union-attr]
    store.finish(task_id, 60, [{"name": "a"}, {"name": "b"}])
    record = store.get(task_id)
    assert record is not None and record.status == "done" and record.done == 2
    assert record.results == [{"name": "a"}, {"name": "b"}]
    assert store.count_unfinished() == 0


def test_failed_task_keeps_its_error(store: TaskStore) -> None:
    task_id = store.create("m", _uploads(2), 1)
    store.claim()
    store.finish(task_id, 60, None, "model exploded")
    record = store.get(task_id)
    assert record is not None and record.status == "failed" and record.error == "model exploded"


def test_recover_requeues_then_fails(store: TaskStore) -> None:
    task_id = store.create("m", _uploads(1), 1)
    store.claim()
    assert store.recover(max_attempts=2, ttl=60) == (1, 0)
    assert store.get(task_id).status == "queued"  # type: ignore[union-attr]
    store.claim()
    assert store.recover(max_attempts=2, ttl=60) == (0, 1)
    record = store.get(task_id)
    assert record is not None and record.status == "failed" and "restart" in (record.error or "")


def test_recover_removes_folders_without_a_record(store: TaskStore) -> None:
    orphan = store.files / "abandoned"
    orphan.mkdir()
    (orphan / "0.input.npy").write_bytes(b"x")
    staging = store.files / ".new-abc"
    staging.mkdir()
    kept = store.create("m", _uploads(1), 1)
    store.recover(max_attempts=2, ttl=60)
    assert sorted(p.name for p in store.files.iterdir()) == [kept]


def test_expire_deletes_finished_tasks_and_files(store: TaskStore) -> None:
    done = store.create("m", _uploads(1), 1)
    waiting = store.create("m", _uploads(1), 1)
    store.claim()
    store.finish(done, 10, [])
    now = time.time()
    assert store.get(done, now=now + 11) is None  # invisible as soon as it expires
    assert store.expire(now=now + 5) == 0
    assert store.expire(now=now + 11) == 1
    assert not store.task_dir(done).exists()
    assert store.get(waiting) is not None  # unfinished tasks never expire


def test_records_survive_reopening(tmp_path: Path) -> None:
    first = TaskStore(tmp_path)
    first.open()
    task_id = first.create("m", _uploads(1), 8)
    first.close()
    second = TaskStore(tmp_path)
    second.open()
    record = second.get(task_id)
    second.close()
    assert record is not None and record.tta == 8
    assert (tmp_path / "tasks.sqlite3").is_file()


def test_delete(store: TaskStore) -> None:
    task_id = store.create("m", _uploads(1), 1)
    assert store.delete(task_id) is True
    assert store.get(task_id) is None and not store.task_dir(task_id).exists()
    assert store.delete(task_id) is False


@pytest.mark.parametrize("remove", ["delete", "expire"])
def test_a_worker_writing_during_removal_leaves_no_orphan(
    store: TaskStore, monkeypatch: pytest.MonkeyPatch, remove: str
) -> None:
    # A worker still running the task saves a heat map while the task is deleted (or expires):
    # the write must fail, not land in (or recreate) the folder after the removal listed it.
    task_id = store.create("m", _uploads(2), 1)
    if remove == "expire":
        store.finish(task_id, 0.0, [])
    worker = FolderImages(store.task_dir(task_id))
    real_rmtree = shutil.rmtree
    outcomes: list[str] = []

    def rmtree_while_the_worker_writes(path: Path, *args: object, **kwargs: object) -> None:
        try:
            worker.save_cam(1, np.zeros((2, 2), np.float32))
            outcomes.append("written")
        except FileNotFoundError:
            outcomes.append("refused")
        real_rmtree(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr("dermcad.tasks.store.shutil.rmtree", rmtree_while_the_worker_writes)
    if remove == "delete":
        assert store.delete(task_id) is True
    else:
        assert store.expire(now=time.time() + 1) == 1
    assert outcomes == ["refused"]
    assert list(store.files.iterdir()) == []


def test_write_ahead_log_is_on(store: TaskStore) -> None:
    mode = store._connection().execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
