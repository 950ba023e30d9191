"""Task records, images and results in Redis, shared by every API replica and worker.

Per task, ``<prefix>:task:<id>`` is a hash (the record), ``...:images`` a hash holding per image
``<i>`` the model-ready pixels ``input:<i>`` (``.npy`` bytes of uint8 ``[S, S, 3]``, the same
array the embedded back end writes to disk) and the display copy ``display:<i>`` (JPEG, longest
side at most 512 px, no metadata), ``...:cams`` a hash of the class-activation maps (``.npy``
bytes) and ``...:results`` a hash of result items per part. ``<prefix>:unfinished`` is a sorted
set of the tasks queued or running: its size is the queue depth. A task is run in *parts*
(consecutive images, one Celery message each) so that several workers share a bulk task; the
record keeps, per part, its attempts, its worker, its progress and
whether it finished. Every write that must not interleave (create under the depth limit, claim a
part, progress, finish a part, fail) is a Lua script, atomic in Redis; the part that finishes
last marks the task done and starts the time-to-live of its keys. A deleted or finished task is
never changed by a late worker.
"""

from __future__ import annotations

import io
import json
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from dermcad.inference.preprocess import ImageTooLargeError
from dermcad.inference.uploads import PreparedImage
from dermcad.tasks.base import FINISHED, QueueFullError, TaskRecord
from dermcad.tasks.distributed.config import DistributedConfig

if TYPE_CHECKING:
    import redis

_UNFINISHED = """
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= 'queued' and status ~= 'running' then return 0 end
"""
# KEYS: record, images, unfinished.
# ARGV: limit, id, created, n, n record field/value pairs, image field/value pairs...
_CREATE = """
if redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[1]) then return 0 end
local n = tonumber(ARGV[4])
for i = 5, 4 + 2 * n, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
for i = 5 + 2 * n, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[2])
return 1
"""
# KEYS: record. ARGV: part, worker, now. -> the part's attempt; -1 unknown, -2 task finished,
# -3 part already finished (a duplicate delivery).
_CLAIM = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return -1 end
if status == 'done' or status == 'failed' then return -2 end
local part = ARGV[1]
if redis.call('HEXISTS', KEYS[1], 'finished:' .. part) == 1 then return -3 end
local old = tonumber(redis.call('HGET', KEYS[1], 'progress:' .. part) or '0')
if old ~= 0 then redis.call('HINCRBY', KEYS[1], 'done', 0 - old) end
redis.call('HSET', KEYS[1], 'status', 'running', 'progress:' .. part, 0,
           'worker:' .. part, ARGV[2], 'updated', ARGV[3])
redis.call('HINCRBY', KEYS[1], 'attempts', 1)
return redis.call('HINCRBY', KEYS[1], 'attempts:' .. part, 1)
"""
# KEYS: record. ARGV: part, images done in the part, now.
_PROGRESS = (
    _UNFINISHED
    + """
local part = ARGV[1]
if redis.call('HEXISTS', KEYS[1], 'finished:' .. part) == 1 then return 0 end
local old = tonumber(redis.call('HGET', KEYS[1], 'progress:' .. part) or '0')
redis.call('HINCRBY', KEYS[1], 'done', tonumber(ARGV[2]) - old)
redis.call('HSET', KEYS[1], 'progress:' .. part, ARGV[2], 'updated', ARGV[3])
return 1
"""
)
# KEYS: record, images, cams, results, unfinished, image counts.
# ARGV: id, part, ttl ms, now, items, cams...
_FINISH_PART = (
    _UNFINISHED
    + """
local part = ARGV[2]
if redis.call('HEXISTS', KEYS[1], 'finished:' .. part) == 1 then return 0 end
redis.call('HSET', KEYS[4], part, ARGV[5])
for i = 6, #ARGV, 2 do redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1]) end
local old = tonumber(redis.call('HGET', KEYS[1], 'progress:' .. part) or '0')
local size = tonumber(redis.call('HGET', KEYS[1], 'size:' .. part) or '0')
redis.call('HINCRBY', KEYS[1], 'done', size - old)
redis.call('HINCRBY', KEYS[6], redis.call('HGET', KEYS[1], 'model_id'), size)
redis.call('HSET', KEYS[1], 'finished:' .. part, 1, 'progress:' .. part, size, 'updated', ARGV[4])
local finished = redis.call('HINCRBY', KEYS[1], 'finished_parts', 1)
if finished >= tonumber(redis.call('HGET', KEYS[1], 'parts')) then
  redis.call('HSET', KEYS[1], 'status', 'done', 'done', redis.call('HGET', KEYS[1], 'total'))
  for i = 1, 4 do redis.call('PEXPIRE', KEYS[i], ARGV[3]) end
  redis.call('ZREM', KEYS[5], ARGV[1])
end
return 1
"""
)
# KEYS: record, images, cams, results, unfinished. ARGV: id, ttl ms, now, error.
_FAIL = (
    _UNFINISHED
    + """
redis.call('HSET', KEYS[1], 'status', 'failed', 'updated', ARGV[3], 'error', ARGV[4])
for i = 1, 4 do redis.call('PEXPIRE', KEYS[i], ARGV[2]) end
redis.call('ZREM', KEYS[5], ARGV[1])
return 1
"""
)
# KEYS: record. ARGV: field/value pairs.
_NOTE = _UNFINISHED + "redis.call('HSET', KEYS[1], unpack(ARGV))\nreturn 1\n"


def parts_of(total: int, size: int) -> list[range]:
    """Consecutive parts of at most ``size`` images; a part is named by its first index."""
    return [range(start, min(start + size, total)) for start in range(0, total, max(1, size))]


class RedisTaskStore:
    """Records and images of tasks in Redis. Thread-safe (redis-py pools connections)."""

    def __init__(self, client: redis.Redis, config: DistributedConfig) -> None:
        self.client = client
        self.config = config
        self.unfinished_key = f"{config.key_prefix}:unfinished"
        self.counts_key = f"{config.key_prefix}:images_classified"
        self._create = client.register_script(_CREATE)
        self._claim = client.register_script(_CLAIM)
        self._progress = client.register_script(_PROGRESS)
        self._finish_part = client.register_script(_FINISH_PART)
        self._fail = client.register_script(_FAIL)
        self._note = client.register_script(_NOTE)

    def keys(self, task_id: str) -> tuple[str, str, str, str]:
        """The record, images, heat maps and results keys of a task."""
        base = f"{self.config.key_prefix}:task:{task_id}"
        return base, f"{base}:images", f"{base}:cams", f"{base}:results"

    def create(
        self, model_id: str, uploads: Sequence[PreparedImage], tta: int
    ) -> tuple[str, list[range]]:
        """Store the images and the record (``queued``); the task id and its parts.

        :class:`QueueFullError` when the queue is full, :class:`ImageTooLargeError` when the
        decoded images exceed the per-task limit; nothing is stored then.
        """
        images: list[Any] = []
        for i, upload in enumerate(uploads):
            images += [f"input:{i}", npy_bytes(upload.pixels), f"display:{i}", upload.display]
        size = sum(len(data) for data in images[1::2])
        if size > self.config.max_task_bytes:
            raise ImageTooLargeError(
                f"the images of this request take {size} bytes once prepared, more than the "
                f"limit of {self.config.max_task_bytes} bytes per task; send fewer at a time"
            )
        task_id = str(uuid.uuid4())
        now = repr(time.time())
        parts = parts_of(len(uploads), self.config.part_size)
        names = [{"name": u.name, "width": u.width, "height": u.height} for u in uploads]
        fields: dict[str, Any] = {
            "id": task_id,
            "model_id": model_id,
            "status": "queued",
            "tta": tta,
            "total": len(uploads),
            "done": 0,
            "attempts": 0,
            "parts": len(parts),
            "finished_parts": 0,
            "created": now,
            "updated": now,
            "names": json.dumps(names),
            **{f"size:{part.start}": len(part) for part in parts},
        }
        flat = [item for pair in fields.items() for item in pair]
        limit = self.config.max_queued_tasks
        keys = [self.keys(task_id)[0], self.keys(task_id)[1], self.unfinished_key]
        if not self._create(keys=keys, args=[limit, task_id, now, len(fields), *flat, *images]):
            raise QueueFullError(
                f"the queue is full ({limit} tasks queued or running); retry later",
                self.config.retry_after,
            )
        return task_id, parts

    def get(self, task_id: str) -> TaskRecord | None:
        record_key, _, _, results_key = self.keys(task_id)
        data = _text(self.client.hgetall(record_key))
        if not data:
            return None
        results = None
        if data["status"] == "done":
            by_part = _text(self.client.hgetall(results_key))
            results = [
                item for _, part in sorted(by_part.items(), key=lambda kv: int(kv[0]))
                for item in json.loads(part)
            ]  # fmt: skip
        return _record(data, results)

    def fields(self, task_id: str) -> dict[str, str]:
        """The raw record, with the back end's own fields (attempts, workers, parts)."""
        return _text(self.client.hgetall(self.keys(task_id)[0]))

    def claim(self, task_id: str, part: int, worker: str) -> int:
        """Mark a part running: its attempt number; -1 unknown, -2 finished, -3 part done."""
        args: list[Any] = [part, worker, repr(time.time())]
        return int(self._claim(keys=[self.keys(task_id)[0]], args=args))

    def progress(self, task_id: str, part: int, done: int) -> None:
        self._progress(keys=[self.keys(task_id)[0]], args=[part, done, repr(time.time())])

    def note_error(self, task_id: str, reason: str) -> None:
        """Keep the reason of a failed attempt (shown if the task is given up later)."""
        args = ["last_error", reason, "updated", repr(time.time())]
        self._note(keys=[self.keys(task_id)[0]], args=args)

    def finish_part(
        self,
        task_id: str,
        part: int,
        items: list[dict[str, Any]],
        cams: Mapping[int, bytes] | None = None,
    ) -> bool:
        """Store a part's items (and maps); the last part marks the task done. ``False`` if the
        task is finished or gone, or the part was already stored."""
        args: list[Any] = [task_id, part, self._ttl_ms(), repr(time.time()), json.dumps(items)]
        for index, data in (cams or {}).items():
            args += [str(index), data]
        keys = [*self._all_keys(task_id), self.counts_key]
        return bool(self._finish_part(keys=keys, args=args))

    def fail(self, task_id: str, error: str) -> bool:
        """Mark the task failed with ``error``; ``False`` if it is finished or gone."""
        args: list[Any] = [task_id, self._ttl_ms(), repr(time.time()), error]
        return bool(self._fail(keys=self._all_keys(task_id), args=args))

    def delete(self, task_id: str) -> bool:
        pipe = self.client.pipeline(transaction=True)
        pipe.delete(*self.keys(task_id))
        pipe.zrem(self.unfinished_key, task_id)
        deleted, _ = pipe.execute()
        return int(deleted) > 0

    def model_input(self, task_id: str, index: int) -> bytes | None:
        """The ``.npy`` bytes of image ``index``'s model-ready pixels."""
        return _bytes(self.client.hget(self.keys(task_id)[1], f"input:{index}"))

    def display(self, task_id: str, index: int) -> bytes | None:
        """The JPEG display copy of image ``index``."""
        return _bytes(self.client.hget(self.keys(task_id)[1], f"display:{index}"))

    def cam(self, task_id: str, index: int) -> bytes | None:
        return _bytes(self.client.hget(self.keys(task_id)[2], str(index)))

    def count_unfinished(self) -> int:
        return int(self.client.zcard(self.unfinished_key))

    def images_classified(self) -> dict[str, float]:
        """Images run by every worker so far, per model (each part counted once)."""
        return {k: float(v) for k, v in _text(self.client.hgetall(self.counts_key)).items()}

    def _all_keys(self, task_id: str) -> list[str]:
        return [*self.keys(task_id), self.unfinished_key]

    def _ttl_ms(self) -> int:
        return max(1, int(self.config.ttl_seconds * 1000))


def npy_bytes(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.save(out, array, allow_pickle=False)
    return out.getvalue()


def _bytes(value: bytes | str | None) -> bytes | None:
    return value.encode() if isinstance(value, str) else value


def _text(raw: Mapping[Any, Any]) -> dict[str, str]:
    def text(value: bytes | str) -> str:
        return value.decode() if isinstance(value, bytes) else str(value)

    return {text(k): text(v) for k, v in raw.items()}


def _record(data: Mapping[str, str], results: list[dict[str, Any]] | None) -> TaskRecord:
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
        results=results,
        images=json.loads(data.get("names") or "[]"),
    )
