"""Faults of the embedded back end: the server killed with SIGKILL mid-batch and restarted, a full
disk, a locked SQLite database. (The distributed back end's faults, a worker killed and Redis
restarted, are tests/distributed/test_workers.py.)"""

from __future__ import annotations

import errno
import shutil
import sqlite3
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from api.conftest import AppFactory
from serving.tiny import Tiny

from .corpus import encode, png
from .disk import stored_files, task_rows
from .live import LiveServer


def _slow_image(seed: int) -> bytes:
    """800 x 800 but a few kB: costly to decode and resize, cheap to send."""
    y, x = np.mgrid[0:800, 0:800]
    array = np.dstack([(y + seed) % 256, x % 256, (x + y) % 256]).astype(np.uint8)
    return encode(Image.fromarray(array), "PNG")


def _post_bulk(base: str, images: list[bytes], tag: str, tta: int | None = None) -> str:
    files = [("files", (f"{tag}-{i}.png", data, "image/png")) for i, data in enumerate(images)]
    params = {"tta": tta} if tta else {}
    response = httpx.post(f"{base}/predict_bulk", files=files, params=params, timeout=60)
    assert response.status_code == 200, response.text
    return str(response.json()["task_uuid"])


def _status(base: str, task_id: str) -> dict[str, object]:
    return dict(httpx.get(f"{base}/tasks/{task_id}", timeout=10).json())


def _post_until_killed(base: str, images: list[bytes], accepted: list[str]) -> None:
    """Keep posting bulk tasks until the server is gone; ``accepted``: the ids it answered."""
    for n in range(100):
        try:
            accepted.append(_post_bulk(base, images, f"t{n}", tta=8))
        except (httpx.HTTPError, AssertionError):
            return


@pytest.mark.slow
def test_sigkill_mid_batch_then_restart_every_task_finishes(tiny: Tiny, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = LiveServer(
        tiny.registry, data_dir, tmp_path / "serve.log", workers=1, batch_size=1, ttl_seconds=3600
    )
    images = [_slow_image(i) for i in range(60)]
    accepted: list[str] = []
    server.start()
    poster = threading.Thread(target=_post_until_killed, args=(server.url, images, accepted))
    try:
        poster.start()
        # Kill once the worker is inside a task: some of its images done, not all.
        deadline = time.monotonic() + 60
        caught = None
        while time.monotonic() < deadline and caught is None:
            for task_id in list(accepted):
                info = _status(server.url, task_id)
                progress = info["progress"]
                assert isinstance(progress, dict)
                if info["status"] == "running" and 0 < progress["done"] < progress["total"]:
                    caught = task_id
                    break
        assert caught is not None, "no task was caught mid-batch"
        server.kill()
        poster.join(60)
        rows = dict(task_rows(data_dir))
        assert set(accepted) <= set(rows)
        # The caught task was mid-batch an instant before the kill (it may just have finished).
        assert rows[caught] in ("running", "done")
        assert any(status in ("queued", "running") for status in rows.values())
        server.start()
        for task_id in rows:
            response = httpx.get(f"{server.url}/from_task/{task_id}?wait=60", timeout=90)
            assert response.status_code == 200
            items = response.json()
            assert len(items) == len(images)
            assert _status(server.url, task_id)["status"] == "done"  # every one, not "failed"
            assert all(item["error"] is None and item["probabilities"] for item in items)
        assert all(status == "done" for _, status in task_rows(data_dir))
        assert {p.split("/")[1] for p in stored_files(data_dir)} == set(rows)
    finally:
        server.stop()
        poster.join(60)


@pytest.mark.slow
def test_sigkill_during_uploads_leaves_no_orphan_files(tiny: Tiny, tmp_path: Path) -> None:
    """Killed while uploads are in flight (seen at the kill, and cut off by it): after the restart
    every stored folder belongs to a task record, and every task that was answered with an id,
    like every task stored, ends done with one result per image."""
    data_dir = tmp_path / "data"
    server = LiveServer(tiny.registry, data_dir, tmp_path / "serve.log", workers=1)
    images = [png(256, 256, seed=i) for i in range(30)]
    files = [("files", (f"u-{i}.png", data, "image/png")) for i, data in enumerate(images)]
    answered: list[str] = []
    refused: list[str] = []  # any answer but 200 before the kill: a failure of its own
    started: dict[int, float] = {}  # client -> when its request in flight was sent
    cut_off: list[float] = []  # start times of the requests that ended with a transport error
    lock = threading.Lock()
    server.start()

    def client(n: int) -> None:
        for _ in range(50):
            with lock:
                started[n] = time.monotonic()
            try:
                response = httpx.post(f"{server.url}/predict_bulk", files=files, timeout=60)
            except httpx.HTTPError:
                with lock:
                    cut_off.append(started.pop(n))
                return
            with lock:
                started.pop(n)
                if response.status_code == 200:
                    answered.append(str(response.json()["task_uuid"]))
                else:
                    refused.append(f"{response.status_code} {response.text[:200]}")

    threads = [threading.Thread(target=client, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # kill once some were answered and others are in flight
        with lock:
            if len(answered) >= 2 and started:
                break
        time.sleep(0.01)
    killed = time.monotonic()
    server.kill()
    for thread in threads:
        thread.join(60)
    assert refused == []
    assert answered, "no upload was answered before the kill"
    in_flight = [t for t in cut_off if t < killed]
    assert in_flight, "no upload was in flight at the kill"
    server.start()
    try:
        known = {task_id for task_id, _ in task_rows(data_dir)}
        assert set(answered) <= known
        folders = {p.split("/")[1] for p in stored_files(data_dir)}
        assert folders <= known, f"orphan folders: {folders - known}"
        assert not [p for p in (data_dir / "tasks").iterdir() if p.name.startswith(".")]
        for task_id in known:
            response = httpx.get(f"{server.url}/from_task/{task_id}?wait=60", timeout=90)
            assert response.status_code == 200, response.text
            items = response.json()
            assert [item["name"] for item in items] == [f"u-{i}.png" for i in range(30)]
            assert all(item["error"] is None and item["probabilities"] for item in items)
            assert _status(server.url, task_id)["status"] == "done"
    finally:
        server.stop()


# --- a full disk --------------------------------------------------------------------------------


@contextmanager
def _small_filesystem(path: Path, size: str = "2m") -> Iterator[bool]:
    """A tmpfs of ``size`` mounted at ``path`` (needs root); yields False if mounting is refused."""
    path.mkdir(parents=True)
    mount = shutil.which("mount")
    mounted = mount is not None and (
        subprocess.run(
            [mount, "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
            capture_output=True,
            check=False,
        ).returncode
        == 0
    )
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


def _fill(folder: Path) -> Path:
    """Fill the file system of ``folder`` up to the last byte; returns the filler file."""
    filler = folder / "filler.bin"
    with filler.open("wb") as handle:
        try:
            while True:
                handle.write(bytes(64 * 1024))
                handle.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


@pytest.mark.parametrize("real", [True, False], ids=["tmpfs", "simulated"])
def test_full_disk_is_503_and_nothing_half_written(
    serve: AppFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, real: bool
) -> None:
    """A real full file system (a 2 MB tmpfs, which needs root to mount), and ENOSPC raised where
    the store writes an image's pixels (the OSError a full disk gives) for machines where mounting
    is not allowed."""
    with _small_filesystem(tmp_path / "small") as mountable:
        mounted = real and mountable
        if real and not mounted:
            pytest.skip("mounting a tmpfs is not allowed here (the simulated variant runs)")
        data_dir = tmp_path / "small" / "data"
        with serve(data_dir=data_dir) as client:
            ok = client.post("/predict", files={"file": ("a.png", png(), "image/png")})
            assert ok.status_code == 200
            assert client.get(f"/from_task/{ok.json()['task_uuid']}?wait=30").status_code == 200
            before = stored_files(data_dir), task_rows(data_dir)
            big = [("files", (f"{i}.png", png(200, 200, seed=i), "image/png")) for i in range(4)]
            if mounted:
                filler = _fill(tmp_path / "small")
            else:
                import numpy

                def no_space(*args: object, **kwargs: object) -> None:
                    raise OSError(errno.ENOSPC, "No space left on device")

                # the store's first write of a task: the model-ready pixels (np.save)
                monkeypatch.setattr(numpy, "save", no_space)
            full = client.post("/predict_bulk", files=big)
            assert full.status_code == 503, full.text
            assert "space" in full.json()["detail"]
            assert "Retry-After" in full.headers
            assert (stored_files(data_dir), task_rows(data_dir)) == before
            assert client.get("/healthz").status_code == 200
            if mounted:
                filler.unlink()
            else:
                monkeypatch.undo()
            again = client.post("/predict_bulk", files=big)
            assert again.status_code == 200, again.text
            done = client.get(f"/from_task/{again.json()['task_uuid']}?wait=30")
            assert done.status_code == 200 and all(i["error"] is None for i in done.json())
            assert client.get("/readyz").json()["ready"] is True


# --- a locked database --------------------------------------------------------------------------


@contextmanager
def _locked(db_path: Path) -> Iterator[None]:
    """Another process-like holder of the write lock (BEGIN EXCLUSIVE on its own connection)."""
    holder = sqlite3.connect(db_path, timeout=5, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_locked_database_is_503_then_recovers(
    serve: AppFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dermcad.tasks.store as store_module

    monkeypatch.setattr(store_module, "BUSY_TIMEOUT_SECONDS", 0.5, raising=False)
    data_dir = tmp_path / "data"
    with serve(data_dir=data_dir) as client:
        first = client.post("/predict", files={"file": ("a.png", png(), "image/png")})
        first_id = first.json()["task_uuid"]
        assert client.get(f"/from_task/{first_id}?wait=30").status_code == 200
        before = stored_files(data_dir), task_rows(data_dir)
        with _locked(data_dir / "tasks.sqlite3"):
            started = time.monotonic()
            refused = client.post("/predict", files={"file": ("b.png", png(), "image/png")})
            assert refused.status_code == 503, refused.text
            assert "database" in refused.json()["detail"] and "Retry-After" in refused.headers
            assert time.monotonic() - started < 20
            assert client.get("/healthz").status_code == 200
            time.sleep(1.5)  # the worker polls (and fails to claim) while the lock is held
        assert (stored_files(data_dir), task_rows(data_dir)) == before
        assert client.get("/readyz").json()["ready"] is True
        after = client.post("/predict", files={"file": ("c.png", png(), "image/png")})
        assert after.status_code == 200
        assert client.get(f"/from_task/{after.json()['task_uuid']}?wait=30").status_code == 200
        with sqlite3.connect(data_dir / "tasks.sqlite3") as db:
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_locked_database_blocking_briefly_only_delays(serve: AppFactory, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with serve(data_dir=data_dir) as client:
        client.get("/readyz")
        holder = sqlite3.connect(
            data_dir / "tasks.sqlite3", timeout=5, isolation_level=None, check_same_thread=False
        )
        holder.execute("BEGIN EXCLUSIVE")
        timer = threading.Timer(1.0, lambda: holder.execute("ROLLBACK"))
        timer.start()
        try:
            response = client.post("/predict", files={"file": ("a.png", png(), "image/png")})
        finally:
            timer.join()
            holder.close()
        assert response.status_code == 200
        task_id = response.json()["task_uuid"]
        assert uuid.UUID(task_id).version == 4
        assert client.get(f"/from_task/{task_id}?wait=30").status_code == 200


def test_full_disk_while_a_worker_writes_fails_that_task_only(
    serve: AppFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ENOSPC when a worker writes a heat-map array: the task fails with the reason on every item,
    the worker lives on, and the next task runs once there is space again."""
    from dermcad.tasks.execution import FolderImages

    def no_space(self: FolderImages, index: int, cam: np.ndarray) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    with serve(data_dir=tmp_path / "data") as client:
        monkeypatch.setattr(FolderImages, "save_cam", no_space)
        task_id = client.post("/predict", files={"file": ("a.png", png(), "image/png")}).json()
        items = client.get(f"/from_task/{task_id['task_uuid']}?wait=30").json()
        info = client.get(f"/tasks/{task_id['task_uuid']}").json()
        assert info["status"] == "failed" and "No space left" in info["error"]
        assert [item["error"] for item in items] == [info["error"]]
        monkeypatch.undo()
        again = client.post("/predict", files={"file": ("b.png", png(), "image/png")}).json()
        done = client.get(f"/from_task/{again['task_uuid']}?wait=30").json()
        assert done[0]["error"] is None
        assert client.get("/readyz").json()["ready"] is True
