"""The API side of the distributed back end: store a task in Redis, then send it to Celery.

A Celery message carries only the task id and a range of image indices (a *part*: a bulk task
is split so that several workers share it); the images are in Redis beside the record (see
:mod:`.store`). A message is about a kilobyte whatever the upload, redelivery is cheap, and any
API replica can draw a finished task's heat maps. Every Redis call has a short socket timeout:
an unreachable Redis raises :class:`BackendUnavailableError` (HTTP 503 with the reason) instead
of hanging a request.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, TypeVar

from dermcad.inference.uploads import PreparedImage
from dermcad.tasks.base import BackendUnavailableError, TaskRecord, Unsubscribe
from dermcad.tasks.distributed.config import TASK_NAME, DistributedConfig
from dermcad.tasks.distributed.store import RedisTaskStore

if TYPE_CHECKING:
    import redis
    from celery import Celery

log = logging.getLogger(__name__)
T = TypeVar("T")


def api_redis_client(config: DistributedConfig) -> redis.Redis:
    """A client that gives up quickly: one retry, then the error reaches the caller."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return redis.Redis.from_url(
        config.broker_url,
        socket_timeout=config.socket_timeout,
        socket_connect_timeout=config.socket_timeout,
        retry=Retry(NoBackoff(), 1),
        health_check_interval=30,
    )


class DistributedBackend:
    """Implements :class:`dermcad.tasks.base.TaskBackend` over Redis and Celery."""

    def __init__(
        self,
        config: DistributedConfig,
        client: redis.Redis | None = None,
        celery_app: Celery | None = None,
    ) -> None:
        from dermcad.tasks.distributed.worker import make_celery

        self.config = config
        self.client = client if client is not None else api_redis_client(config)
        self.store = RedisTaskStore(self.client, config)
        self.celery = celery_app if celery_app is not None else make_celery(config)
        self._started = False

    @contextmanager
    def _reachable(self) -> Iterator[None]:
        import redis
        from kombu.exceptions import OperationalError

        try:
            yield
        except (redis.ConnectionError, redis.TimeoutError, OperationalError) as exc:
            raise BackendUnavailableError(
                f"the task store (Redis at {self.config.where}) is unreachable: "
                f"{type(exc).__name__}; retry later",
                self.config.retry_after,
            ) from exc

    def _call(self, func: Callable[[], T]) -> T:
        with self._reachable():
            return func()

    # lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        """Nothing to start in the API process; an unreachable Redis is logged, not fatal."""
        self._started = True
        if not self._ping():
            log.warning("Redis at %s is unreachable; requests answer 503", self.config.where)

    def stop(self) -> None:
        self._started = False
        self.client.close()
        self.celery.close()

    def _ping(self) -> bool:
        import redis

        try:
            return bool(self.client.ping())
        except (redis.ConnectionError, redis.TimeoutError):
            return False

    @property
    def running(self) -> bool:
        """Started and Redis answers (the workers themselves are separate processes)."""
        return self._started and self._ping()

    # the TaskBackend protocol -----------------------------------------------------------
    def submit(self, model_id: str, uploads: Sequence[PreparedImage], tta: int) -> TaskRecord:
        task_id, parts = self._call(lambda: self.store.create(model_id, uploads, tta))
        try:
            with self._reachable():
                for part in parts:
                    args = [task_id, part.start, part.stop]
                    self.celery.send_task(TASK_NAME, args=args, queue=self.config.queue)
        except BaseException:
            # Nothing half-stored: a task no message points to would never run.
            try:
                self.store.delete(task_id)
            except Exception:  # Redis went away in between; the record stays "queued"
                log.exception("could not remove task %s after a failed send", task_id)
            raise
        record = self._call(lambda: self.store.get(task_id))
        if record is None:
            raise BackendUnavailableError(f"task {task_id} vanished right after it was stored")
        return record

    def get(self, task_id: str) -> TaskRecord | None:
        return self._call(lambda: self.store.get(task_id))

    def delete(self, task_id: str) -> bool:
        return self._call(lambda: self.store.delete(task_id))

    def queue_depth(self) -> int:
        return self._call(self.store.count_unfinished)

    def on_finish(self, task_id: str, callback: Callable[[], None]) -> Unsubscribe | None:
        """``None``: workers are other processes; a waiting request polls Redis."""
        return None

    def images_classified(self) -> dict[str, float]:
        """For the ``dermcad_images_classified_total`` counter: totals over all workers."""
        return self._call(self.store.images_classified)

    def heatmap_png(self, task_id: str, index: int) -> bytes | None:
        import numpy as np
        from PIL import Image

        from dermcad.inference.heatmap import overlay_png

        record = self.get(task_id)
        if record is None or record.status != "done" or not 0 <= index < record.total:
            return None
        cam_bytes = self._call(lambda: self.store.cam(task_id, index))
        image_bytes = self._call(lambda: self.store.display(task_id, index))
        if cam_bytes is None or image_bytes is None:
            return None
        cam = np.load(io.BytesIO(cam_bytes), allow_pickle=False)
        with Image.open(io.BytesIO(image_bytes)) as image:
            return overlay_png(image, cam)
