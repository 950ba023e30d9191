"""The Celery app of dermcad and the task its workers run (``dermcad worker``).

A message names a task and a part of its images (see :mod:`.store`). Delivery guarantees come
from Celery's late acknowledgement: a message is acknowledged only after its part's outcome is
stored in Redis. A worker killed mid-part never acknowledges, so the message is delivered again
(at once when a pool child dies, ``reject_on_worker_lost``; when the whole worker or its machine
is lost, as soon as its lease runs out, :mod:`.lease`, and at the latest after the visibility
timeout). A failed attempt puts the message back (``Reject(requeue=True)``); the record counts
each part's attempts and, past ``max_attempts``, the task is marked failed with the last reason.
A part whose worker is lost on every attempt (a poison image) ends, past ``max_attempts``, as
error items with the reason, and the rest of its task completes. Duplicate deliveries are
harmless: a part already stored is acknowledged without running again.
"""

from __future__ import annotations

import io
import logging
import os
import socket
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from dermcad.inference.results import result_item
from dermcad.tasks.distributed.config import TASK_NAME, DistributedConfig
from dermcad.tasks.distributed.lease import LeaseKeeper, Leases, Part, Resend
from dermcad.tasks.distributed.store import RedisTaskStore, npy_bytes
from dermcad.tasks.execution import check_pixels, run_task

if TYPE_CHECKING:
    import redis
    from celery import Celery

    from dermcad.inference.runner import ModelRunner

log = logging.getLogger(__name__)
RunnerLoader = Callable[[], Mapping[str, "ModelRunner"]]


def make_celery(config: DistributedConfig) -> Celery:
    """The Celery app (no result back end: dermcad keeps its own records in Redis)."""
    from celery import Celery

    timeouts = {
        "visibility_timeout": config.visibility_timeout,
        # Every worker looks for messages of lost workers every few seconds (one ZRANGE).
        "unacked_restore_interval": max(1, min(10, int(config.visibility_timeout / 5))),
        "unacked_restore_throttle": 1,
        "socket_timeout": config.socket_timeout,
        "socket_connect_timeout": config.socket_timeout,
    }
    app = Celery("dermcad", broker=config.broker_url, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        task_ignore_result=True,
        task_default_queue=config.queue,
        task_serializer="json",
        accept_content=["json"],
        worker_prefetch_multiplier=1,
        worker_cancel_long_running_tasks_on_connection_loss=True,
        worker_hijack_root_logger=False,
        broker_transport_options=timeouts,
        broker_connection_timeout=config.socket_timeout,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        task_publish_retry_policy={
            "max_retries": 1,
            "interval_start": 0,
            "interval_step": 0.2,
            "interval_max": 0.2,
        },
    )
    return app


def worker_redis_client(config: DistributedConfig) -> redis.Redis:
    """A client that rides out a Redis restart: retries with back-off for ``worker_outage`` s."""
    import redis
    from redis.backoff import ExponentialBackoff
    from redis.retry import Retry

    retries = max(1, int(config.worker_outage / 1.0))
    return redis.Redis.from_url(
        config.broker_url,
        socket_timeout=max(config.socket_timeout, 10.0),
        socket_connect_timeout=config.socket_timeout,
        retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), retries),
        health_check_interval=30,
    )


class RedisImages:
    """:class:`dermcad.tasks.execution.TaskImages` over the task's hashes in Redis.

    Heat-map arrays are kept in memory and stored with the results in one atomic step.
    """

    def __init__(self, store: RedisTaskStore, task_id: str) -> None:
        self.store = store
        self.task_id = task_id
        self.cams: dict[int, bytes] = {}

    def model_input(self, index: int) -> np.ndarray:
        stored = self.store.model_input(self.task_id, index)
        if stored is None:
            raise FileNotFoundError(f"image {index} of task {self.task_id} is not in Redis")
        return check_pixels(np.load(io.BytesIO(stored), allow_pickle=False))

    def save_cam(self, index: int, cam: np.ndarray) -> None:
        self.cams[index] = npy_bytes(cam)


class WorkerContext:
    """What one worker process holds: its Redis store and its models (loaded on first use)."""

    def __init__(
        self, config: DistributedConfig, load_runners: RunnerLoader, send: Resend | None = None
    ) -> None:
        self.config = config
        self._load_runners = load_runners
        self._runners: Mapping[str, ModelRunner] | None = None
        self._store: RedisTaskStore | None = None
        self.send = send  # sends a part's message again; set by register_task()
        self.keeper: LeaseKeeper | None = None
        self._lock = threading.Lock()
        self.name = f"{socket.gethostname()}:{os.getpid()}"

    def _open(self) -> tuple[RedisTaskStore, Mapping[str, ModelRunner]]:
        # Opened lazily, in the process that runs tasks (after a prefork pool has forked).
        with self._lock:
            if self._store is None or self._runners is None:
                self.name = f"{socket.gethostname()}:{os.getpid()}"
                client = worker_redis_client(self.config)
                self._store = RedisTaskStore(client, self.config)
                self._runners = self._load_runners()
                if self.send is not None:
                    leases = Leases(client, self.config.key_prefix, self.config.lease_seconds)
                    self.keeper = LeaseKeeper(leases, self.config.lease_seconds, self._resend)
            return self._store, self._runners

    def preload(self) -> None:
        """Load the models now (threads and solo pools: errors and providers show at start)."""
        self._open()

    def _resend(self, part: Part) -> None:
        store, _ = self._open()
        store.note_error(part.task_id, "the worker running it was lost (its lease ran out)")
        if self.send is not None:
            self.send(part)

    def execute(self, task_id: str, start: int = 0, stop: int | None = None) -> None:
        """Run one delivery of a part of a task (images ``start`` to ``stop``, default all);
        ``celery.exceptions.Reject`` has the message delivered again."""
        from celery.exceptions import Reject

        try:
            self._attempt(task_id, start, stop)
        except Reject:
            raise
        except Exception as exc:  # Redis unreachable even after retrying: deliver it again
            log.exception("task %s: could not reach Redis; the message goes back", task_id)
            raise Reject(str(exc), requeue=True) from exc

    def _attempt(self, task_id: str, start: int, stop: int | None) -> None:
        from celery.exceptions import Reject

        store, runners = self._open()
        attempt = store.claim(task_id, start, self.name)
        if attempt < 0:
            state = {-1: "gone", -2: "finished", -3: "part already done"}[attempt]
            log.info("task %s part %d: %s; nothing to do", task_id, start, state)
            return
        if attempt > self.config.max_attempts:
            self._give_up(store, runners, Part(task_id, start, stop), attempt - 1)
            return
        part = Part(task_id, start, stop)
        if self.keeper is not None:
            self.keeper.hold(part)
        try:
            self._run(store, runners, task_id, start, stop)
        except Exception as exc:
            if _is_connection_error(exc):
                raise
            reason = str(exc) or type(exc).__name__
            log.exception("task %s part %d failed (attempt %d)", task_id, start, attempt)
            if attempt >= self.config.max_attempts:
                store.fail(task_id, f"failed {attempt} times; last: {reason}")
                return
            store.note_error(task_id, reason)
            raise Reject(reason, requeue=True) from exc
        finally:
            if self.keeper is not None:
                self.keeper.drop(part)

    def _run(
        self,
        store: RedisTaskStore,
        runners: Mapping[str, ModelRunner],
        task_id: str,
        start: int,
        stop: int | None,
    ) -> None:
        record = store.get(task_id)
        if record is None:
            return
        runner = runners.get(record.model_id)
        if runner is None:
            raise RuntimeError(f"model {record.model_id!r} is not served by worker {self.name}")
        part = range(start, record.total if stop is None else min(stop, record.total))
        images = RedisImages(store, task_id)

        def batch_done(done: int, count: int) -> None:
            if done < len(part):  # the last batch's progress comes with finish_part()
                store.progress(task_id, start, done)

        # The same function the embedded back end's threads run, over this part's images.
        items = run_task(record, runner, images, self.config.heatmap_url, batch_done, part)
        store.finish_part(task_id, start, items, images.cams)

    def _give_up(
        self,
        store: RedisTaskStore,
        runners: Mapping[str, ModelRunner],
        part: Part,
        attempts: int,
    ) -> None:
        """The part's worker was lost on every attempt: its images become error items with the
        reason (the other parts of the task are not held back); without a runner for the
        task's model, the task fails with the reason."""
        task_id = part.task_id
        last = store.fields(task_id).get("last_error") or "the worker running it was lost"
        reason = f"gave up after {attempts} attempts; last: {last}"
        log.error("task %s part %d given up after %d attempts: %s", *part[:2], attempts, last)
        record = store.get(task_id)
        runner = None if record is None else runners.get(record.model_id)
        if record is None or runner is None:
            store.fail(task_id, reason)
            return
        items = []
        stop = record.total if part.stop is None else min(part.stop, record.total)
        for i in range(part.start, stop):
            meta = record.images[i] if i < len(record.images) else {}
            item = result_item(
                name=str(meta.get("name", f"image_{i + 1}")),
                model_id=record.model_id,
                manifest=runner.manifest,
                tta=record.tta,
                width=meta.get("width"),
                height=meta.get("height"),
                error=reason,
            )
            items.append(item)
        store.finish_part(task_id, part.start, items)


def _is_connection_error(exc: BaseException) -> bool:
    import redis

    return isinstance(exc, (redis.ConnectionError, redis.TimeoutError))


def register_task(app: Celery, context: WorkerContext) -> None:
    """Add the prediction task to ``app`` (the API only sends it by name)."""

    @app.task(  # type: ignore[untyped-decorator]
        name=TASK_NAME, acks_late=True, reject_on_worker_lost=True, shared=False
    )
    def predict(task_id: str, start: int = 0, stop: int | None = None) -> None:
        context.execute(task_id, start, stop)

    def send(part: Part) -> None:
        args = [part.task_id, part.start, part.stop]
        app.send_task(TASK_NAME, args=args, queue=context.config.queue)

    context.send = send


def worker_argv(concurrency: int, pool: str, queue: str, loglevel: str, hostname: str) -> list[str]:
    return [
        "worker",
        f"--concurrency={concurrency}",
        f"--pool={pool}",
        f"--queues={queue}",
        f"--loglevel={loglevel}",
        f"--hostname={hostname}",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]


def worker_info(config: DistributedConfig, extra: Mapping[str, Any]) -> str:
    items = ", ".join(f"{k}={v}" for k, v in extra.items())
    return f"dermcad worker: broker {config.where}, queue {config.queue}, {items}"
