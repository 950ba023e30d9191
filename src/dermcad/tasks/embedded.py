"""The embedded back end: SQLite records and worker threads inside the API process.

Workers take the oldest queued task, run its images through the model in batches (one shared
ONNX Runtime session per model), record progress after each batch, and store the results. At
start, tasks a crash cut off are re-queued (or failed after ``max_attempts``); a sweeper deletes
finished tasks whose time-to-live has passed, with their images. A request waiting for a task
(``/from_task``) is woken by the worker that finishes it (:meth:`EmbeddedBackend.on_finish`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dermcad.inference.heatmap import overlay_png
from dermcad.inference.runner import ModelRunner
from dermcad.inference.uploads import PreparedImage
from dermcad.tasks.base import BackendUnavailableError, FinishSignals, TaskRecord, Unsubscribe
from dermcad.tasks.execution import FolderImages, run_task
from dermcad.tasks.store import TaskStore

log = logging.getLogger(__name__)

Observer = Callable[[str, int], None]


@dataclass(frozen=True)
class EmbeddedConfig:
    data_dir: Path
    workers: int = 1
    ttl_seconds: float = 24 * 3600.0
    max_attempts: int = 2
    sweep_seconds: float = 60.0
    heatmap_url: str = "/tasks/{task_id}/heatmaps/{index}.png"


class EmbeddedBackend:
    """Implements :class:`dermcad.tasks.base.TaskBackend` with threads and SQLite."""

    def __init__(
        self,
        config: EmbeddedConfig,
        models: Mapping[str, ModelRunner],
        observer: Observer | None = None,
    ) -> None:
        self.config = config
        self.models = models
        self.store = TaskStore(config.data_dir)
        self._observer = observer
        self._wake = threading.Condition()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._finished = FinishSignals()

    # lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        self.store.open()
        requeued, failed = self.store.recover(self.config.max_attempts, self.config.ttl_seconds)
        if requeued or failed:
            log.warning(
                "recovered tasks after a restart: %d re-queued, %d failed", requeued, failed
            )
        self.store.expire()
        self._stopping.clear()
        for n in range(max(1, self.config.workers)):
            thread = threading.Thread(target=self._work, name=f"dermcad-worker-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)
        sweeper = threading.Thread(target=self._sweep, name="dermcad-sweeper", daemon=True)
        sweeper.start()
        self._threads.append(sweeper)

    def stop(self) -> None:
        self._stopping.set()
        with self._wake:
            self._wake.notify_all()
        for thread in self._threads:
            thread.join(timeout=30)
        self._threads.clear()
        self.store.close()

    @property
    def running(self) -> bool:
        return bool(self._threads) and all(t.is_alive() for t in self._threads)

    # the TaskBackend protocol -----------------------------------------------------------
    def submit(self, model_id: str, uploads: Sequence[PreparedImage], tta: int) -> TaskRecord:
        task_id = self.store.create(model_id, uploads, tta)
        with self._wake:
            self._wake.notify()
        record = self.store.get(task_id)
        assert record is not None
        return record

    def get(self, task_id: str) -> TaskRecord | None:
        return self.store.get(task_id)

    def delete(self, task_id: str) -> bool:
        deleted = self.store.delete(task_id)
        self._finished.notify(task_id)
        return deleted

    def queue_depth(self) -> int:
        return self.store.count_unfinished()

    def on_finish(self, task_id: str, callback: Callable[[], None]) -> Unsubscribe:
        return self._finished.subscribe(task_id, callback)

    def heatmap_png(self, task_id: str, index: int) -> bytes | None:
        record = self.store.get(task_id)
        if record is None or record.status != "done" or not 0 <= index < record.total:
            return None
        images = FolderImages(self.store.task_dir(task_id))
        cam = images.cam(index)
        if cam is None:
            return None
        try:
            with images.display(index) as image:
                return overlay_png(image, cam)
        except OSError:  # deleted or expired in between
            return None

    # workers ----------------------------------------------------------------------------
    def _work(self) -> None:
        while not self._stopping.is_set():
            try:
                record = self.store.claim()
            except BackendUnavailableError as exc:  # locked database, full disk: retry later
                log.warning("cannot take a task: %s", exc.reason)
                self._stopping.wait(1.0)
                continue
            if record is None:
                with self._wake:
                    self._wake.wait(timeout=1.0)
                continue
            try:
                results = self._run(record)
            except Exception as exc:  # a task must end, whatever went wrong
                log.exception("task %s failed", record.id)
                self._finish(record.id, None, f"{exc}")
            else:
                self._finish(record.id, results)

    def _finish(
        self, task_id: str, results: list[dict[str, Any]] | None, error: str | None = None
    ) -> None:
        """Record the end of a task, retrying while the database is unavailable (a task left
        ``running`` by a stop in between is recovered at the next start)."""
        while True:
            try:
                self.store.finish(task_id, self.config.ttl_seconds, results, error)
                self._finished.notify(task_id)
                return
            except BackendUnavailableError as exc:
                log.warning("cannot record the end of task %s: %s", task_id, exc.reason)
                if self._stopping.wait(1.0):
                    return

    def _run(self, record: TaskRecord) -> list[dict[str, Any]]:
        runner = self.models.get(record.model_id)
        if runner is None:
            raise RuntimeError(f"model {record.model_id!r} is no longer served")

        def batch_done(done: int, count: int) -> None:
            try:
                if done < record.total:  # the last batch's progress comes with finish()
                    self.store.progress(record.id, done)
            except BackendUnavailableError as exc:  # progress is informational: carry on
                log.warning("cannot record the progress of task %s: %s", record.id, exc.reason)
            if self._observer is not None:
                self._observer(record.model_id, count)

        # The same function the distributed back end's workers run (dermcad.tasks.execution).
        images = FolderImages(self.store.task_dir(record.id))
        return run_task(record, runner, images, self.config.heatmap_url, batch_done)

    def _sweep(self) -> None:
        while not self._stopping.wait(self.config.sweep_seconds):
            try:
                self.store.expire()
            except Exception:  # keep sweeping; the next round retries
                log.exception("expiring tasks failed")
