"""The task back-end interface: what the API needs from a queue, whatever runs it.

The embedded back end (:mod:`dermcad.tasks.embedded`) keeps records in SQLite and runs worker
threads in the API process. A distributed back end (Celery workers, Redis, a shared record store)
implements the same protocol: it receives validated uploads, returns records, and serves heat maps.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from dermcad.inference.uploads import PreparedImage

TaskStatus = Literal["queued", "running", "done", "failed"]
FINISHED: tuple[str, ...] = ("done", "failed")


@dataclass(frozen=True)
class TaskRecord:
    """A task as clients see it."""

    id: str
    model_id: str
    status: TaskStatus
    done: int
    total: int
    tta: int
    created: float
    updated: float
    error: str | None = None
    results: list[dict[str, Any]] | None = field(default=None, repr=False)
    images: list[dict[str, Any]] = field(default_factory=list, repr=False)  # name, width, height

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


@runtime_checkable
class TaskBackend(Protocol):
    """A task queue and its records. Every method is safe to call from any thread."""

    def start(self) -> None:
        """Recover tasks cut off by a crash, then start the workers."""

    def stop(self) -> None:
        """Stop taking work; running tasks finish or are recovered at the next start."""

    @property
    def running(self) -> bool: ...

    def submit(self, model_id: str, uploads: Sequence[PreparedImage], tta: int) -> TaskRecord:
        """Store the images and the record (status ``queued``), then wake a worker."""

    def get(self, task_id: str) -> TaskRecord | None:
        """The record, or ``None`` if unknown, deleted or expired."""

    def delete(self, task_id: str) -> bool:
        """Remove the record, its images and results; ``False`` if unknown."""

    def heatmap_png(self, task_id: str, index: int) -> bytes | None:
        """The heat-map overlay of image ``index`` of a finished task, or ``None``."""

    def queue_depth(self) -> int:
        """Tasks queued or running."""

    def on_finish(self, task_id: str, callback: Callable[[], None]) -> Unsubscribe | None:
        """Have ``callback`` called (from any thread) once the task finishes or is deleted;
        the function that cancels it, or ``None`` if this back end cannot tell (poll then)."""


Unsubscribe = Callable[[], None]


class FinishSignals:
    """Callbacks per task id, called by whichever thread finishes (or deletes) the task."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[str, list[Callable[[], None]]] = {}

    def subscribe(self, task_id: str, callback: Callable[[], None]) -> Unsubscribe:
        with self._lock:
            self._waiting.setdefault(task_id, []).append(callback)

        def unsubscribe() -> None:
            with self._lock:
                callbacks = self._waiting.get(task_id, [])
                if callback in callbacks:
                    callbacks.remove(callback)
                if not callbacks:
                    self._waiting.pop(task_id, None)

        return unsubscribe

    def notify(self, task_id: str) -> None:
        with self._lock:
            callbacks = self._waiting.pop(task_id, [])
        for callback in callbacks:
            callback()


class BackendUnavailableError(Exception):
    """The task back end cannot serve the request now (HTTP 503, with ``Retry-After`` if set)."""

    def __init__(self, reason: str, retry_after: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class QueueFullError(BackendUnavailableError):
    """The queue holds as many unfinished tasks as allowed; the client should retry later."""
