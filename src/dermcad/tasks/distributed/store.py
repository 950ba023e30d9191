"""Task records, images and heat-map arrays in Redis, shared by every API replica and worker.

Per task ``<prefix>:task:<id>`` is a hash (the record), ``...:images`` a hash of the decoded
uploads as PNG (the same bytes the embedded back end writes to disk) and ``...:cams`` a hash of the
class-activation maps (``.npy`` bytes). ``<prefix>:unfinished`` is a sorted set of the tasks queued
or running: its size is the queue depth. Writes that must not interleave (create with the depth
limit, claim, progress, finish) are Lua scripts, so they are atomic in Redis. A finished task's
three keys expire after the time-to-live; a deleted task cannot be brought back by a late worker.
"""

from __future__ import annotations

import io
import json
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from dermcad.preprocess import ImageTooLargeError
from dermcad.serving.uploads import Upload
from dermcad.tasks.base import FINISHED, QueueFullError, TaskRecord
from dermcad.tasks.distributed.config import DistributedConfig

if TYPE_CHECKING:
    import redis

# KEYS: record, images, unfinished. ARGV: limit, id, created, n, n field/value pairs, images...
_CREATE = """
if redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[1]) then return 0 end
local n = tonumber(ARGV[4])
for i = 5, 4 + 2 * n, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
local index = 0
for i = 5 + 2 * n, #ARGV do
  redis.call('HSET', KEYS[2], tostring(index), ARGV[i])
  index = index + 1
end
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[2])
return 1
"""
# KEYS: record. ARGV: worker, now. -> attempts, or -1 unknown, -2 already finished.
_CLAIM = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return -1 end
if status == 'done' or status == 'failed' then return -2 end
redis.call('HSET', KEYS[1], 'status', 'running', 'done', 0, 'worker', ARGV[1], 'updated', ARGV[2])
return redis.call('HINCRBY', KEYS[1], 'attempts', 1)
"""
# KEYS: record. ARGV: field/value pairs. Only a task still queued or running is changed.
_UPDATE = """
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= 'queued' and status ~= 'running' then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
"""
# KEYS: record, images, cams, unfinished. ARGV: id, ttl ms, status, now, error, results, cams...
_FINISH = """
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= 'queued' and status ~= 'running' then return 0 end
local done = redis.call('HGET', KEYS[1], 'done')
if ARGV[3] == 'done' then done = redis.call('HGET', KEYS[1], 'total') end
redis.call('HSET', KEYS[1], 'status', ARGV[3], 'done', done, 'updated', ARGV[4],
           'error', ARGV[5], 'results', ARGV[6])
for i = 7, #ARGV, 2 do redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1]) end
for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ARGV[2]) end
redis.call('ZREM', KEYS[4], ARGV[1])
return 1
"""


class RedisTaskStore:
    """Records and images of tasks in Redis. Thread-safe (redis-py pools connections)."""

    def __init__(self, client: redis.Redis, config: DistributedConfig) -> None:
        self.client = client
        self.config = config
        self.unfinished_key = f"{config.key_prefix}:unfinished"
        self._create = client.register_script(_CREATE)
        self._claim = client.register_script(_CLAIM)
        self._update = client.register_script(_UPDATE)
        self._finish = client.register_script(_FINISH)

    def keys(self, task_id: str) -> tuple[str, str, str]:
        base = f"{self.config.key_prefix}:task:{task_id}"
        return base, f"{base}:images", f"{base}:cams"

    def create(self, model_id: str, uploads: Sequence[Upload], tta: int) -> str:
        """Store the images and the record (``queued``); :class:`QueueFullError` when full."""
        pngs = [_png(upload) for upload in uploads]
        size = sum(len(png) for png in pngs)
        if size > self.config.max_task_bytes:
            raise ImageTooLargeError(
                f"the images of this request take {size} bytes once decoded, more than the "
                f"limit of {self.config.max_task_bytes} bytes per task; send fewer at a time"
            )
        task_id = str(uuid.uuid4())
        now = time.time()
        names = [{"name": u.name, "width": u.width, "height": u.height} for u in uploads]
        fields: dict[str, Any] = {
            "id": task_id,
            "model_id": model_id,
            "status": "queued",
            "tta": tta,
            "total": len(uploads),
            "done": 0,
            "attempts": 0,
            "created": repr(now),
            "updated": repr(now),
            "names": json.dumps(names),
        }
        flat = [item for pair in fields.items() for item in pair]
        limit = self.config.max_queued_tasks
        args = [limit, task_id, repr(now), len(fields), *flat, *pngs]
        record, images, _ = self.keys(task_id)
        if not self._create(keys=[record, images, self.unfinished_key], args=args):
            raise QueueFullError(
                f"the queue is full ({limit} tasks queued or running); retry later",
                self.config.retry_after,
            )
        return task_id

    def get(self, task_id: str) -> TaskRecord | None:
        raw = self.client.hgetall(self.keys(task_id)[0])
        return _record(_text(raw)) if raw else None

    def fields(self, task_id: str) -> dict[str, str]:
        """The raw record, with the back end's own fields (``attempts``, ``worker``, ...)."""
        return _text(self.client.hgetall(self.keys(task_id)[0]))

    def claim(self, task_id: str, worker: str) -> int:
        """Mark the task running for ``worker``: its attempt number, -1 unknown, -2 finished."""
        return int(self._claim(keys=[self.keys(task_id)[0]], args=[worker, repr(time.time())]))

    def progress(self, task_id: str, done: int) -> None:
        args: list[Any] = ["done", done, "updated", repr(time.time())]
        self._update(keys=[self.keys(task_id)[0]], args=args)

    def requeue(self, task_id: str, reason: str) -> None:
        """Back to ``queued`` after a failed attempt, keeping the reason for the last attempt."""
        args: list[Any] = ["status", "queued", "done", 0, "last_error", reason]
        args += ["updated", repr(time.time())]
        self._update(keys=[self.keys(task_id)[0]], args=args)

    def finish(
        self,
        task_id: str,
        results: list[dict[str, Any]] | None,
        error: str | None = None,
        cams: Mapping[int, bytes] | None = None,
    ) -> bool:
        """Store the outcome and start the time-to-live; ``False`` if already finished or gone."""
        status = "failed" if error is not None else "done"
        ttl_ms = max(1, int(self.config.ttl_seconds * 1000))
        payload = "" if results is None else json.dumps(results)
        args: list[Any] = [task_id, ttl_ms, status, repr(time.time()), error or "", payload]
        for index, data in (cams or {}).items():
            args += [str(index), data]
        keys = [*self.keys(task_id), self.unfinished_key]
        return bool(self._finish(keys=keys, args=args))

    def delete(self, task_id: str) -> bool:
        pipe = self.client.pipeline(transaction=True)
        pipe.delete(*self.keys(task_id))
        pipe.zrem(self.unfinished_key, task_id)
        deleted, _ = pipe.execute()
        return int(deleted) > 0

    def image(self, task_id: str, index: int) -> bytes | None:
        return _bytes(self.client.hget(self.keys(task_id)[1], str(index)))

    def cam(self, task_id: str, index: int) -> bytes | None:
        return _bytes(self.client.hget(self.keys(task_id)[2], str(index)))

    def count_unfinished(self) -> int:
        return int(self.client.zcard(self.unfinished_key))


def _png(upload: Upload) -> bytes:
    out = io.BytesIO()
    upload.image.save(out, format="PNG", compress_level=1)
    return out.getvalue()


def _bytes(value: bytes | str | None) -> bytes | None:
    return value.encode() if isinstance(value, str) else value


def _text(raw: Mapping[Any, Any]) -> dict[str, str]:
    def text(value: bytes | str) -> str:
        return value.decode() if isinstance(value, bytes) else str(value)

    return {text(k): text(v) for k, v in raw.items()}


def _record(data: Mapping[str, str]) -> TaskRecord:
    results = data.get("results") or ""
    status = data["status"]
    return TaskRecord(
        id=data["id"],
        model_id=data["model_id"],
        status=status,  # type: ignore[arg-type]
        done=int(data.get("done", 0)),
        total=int(data["total"]),
        tta=int(data["tta"]),
        created=float(data["created"]),
        updated=float(data["updated"]),
        error=(data.get("error") or None) if status in FINISHED else None,
        results=json.loads(results) if results else None,
        images=json.loads(data.get("names") or "[]"),
    )
