"""Leases on running parts: how a dead worker's part runs again within seconds.

Celery's late acknowledgement alone brings a lost worker's message back only after the
visibility timeout, which must exceed the longest part (an hour by default). So a worker also
holds a *lease* on each part it runs: a member ``<task>:<start>:<stop>`` of the sorted set
``<prefix>:leases`` scored by its expiry, ``lease_seconds`` after the last renewal. A thread of
every worker renews the leases of its running parts every ``lease_seconds / 5`` and, on the same
tick, reaps the leases that ran out: an expired lease is removed in one atomic step (so one
reaper sends it) and its part is sent again as a new message. A slow but living worker keeps
renewing, whatever the length of its part, so it is never robbed; a part run twice (a worker
cut off from Redis for longer than a lease) is stored once, by whichever run finishes first.
Expiry is measured on the Redis server's clock (``TIME``), so workers' clocks need not agree.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    import redis

log = logging.getLogger(__name__)

# KEYS: leases. ARGV: ttl ms, 'XX' (renew only) or 'GT' (take), members... -> members changed.
_RENEW = """
local now = redis.call('TIME')
local expiry = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) + tonumber(ARGV[1])
local changed = 0
for i = 3, #ARGV do
  changed = changed + redis.call('ZADD', KEYS[1], ARGV[2], 'CH', expiry, ARGV[i])
end
return changed
"""
# KEYS: leases. ARGV: most to take -> the members whose lease ran out, removed.
_REAP = """
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ms, 'LIMIT', 0, tonumber(ARGV[1]))
for _, member in ipairs(expired) do redis.call('ZREM', KEYS[1], member) end
return expired
"""


class Part(NamedTuple):
    """A part of a task, as its Celery message names it."""

    task_id: str
    start: int
    stop: int | None

    @property
    def member(self) -> str:
        return f"{self.task_id}:{self.start}:{'' if self.stop is None else self.stop}"

    @classmethod
    def parse(cls, member: str) -> Part:
        task_id, start, stop = member.rsplit(":", 2)
        return cls(task_id, int(start), int(stop) if stop else None)


class Leases:
    """The lease set in Redis: renew, release, and take the expired ones."""

    def __init__(self, client: redis.Redis, key_prefix: str, lease_seconds: float) -> None:
        self.client = client
        self.key = f"{key_prefix}:leases"
        self.ttl_ms = max(1, int(lease_seconds * 1000))
        self._renew = client.register_script(_RENEW)
        self._reap = client.register_script(_REAP)

    def take(self, part: Part) -> None:
        self._renew(keys=[self.key], args=[self.ttl_ms, "GT", part.member])

    def renew(self, parts: list[Part]) -> None:
        """Push back the expiry of leases still held (one reaped meanwhile is not brought back:
        the part was sent again and its new run takes its own lease)."""
        if parts:
            self._renew(keys=[self.key], args=[self.ttl_ms, "XX", *(p.member for p in parts)])

    def release(self, part: Part) -> None:
        self.client.zrem(self.key, part.member)

    def expire_now(self, part: Part) -> None:
        """Give a part back to the reapers at once (its resend failed; try again next tick)."""
        self.client.zadd(self.key, {part.member: 0})

    def reap(self, most: int = 100) -> list[Part]:
        members = self._reap(keys=[self.key], args=[most])
        return [Part.parse(m.decode() if isinstance(m, bytes) else str(m)) for m in members]


Resend = Callable[[Part], None]


class LeaseKeeper:
    """A worker process's thread that renews its parts' leases and reaps expired ones."""

    def __init__(self, leases: Leases, lease_seconds: float, resend: Resend) -> None:
        self.leases = leases
        self.interval = lease_seconds / 5
        self.resend = resend
        self._held: dict[Part, int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="dermcad-leases", daemon=True)
        self._thread.start()

    def hold(self, part: Part) -> None:
        """Take the part's lease now (before running it) and renew it until :meth:`drop`."""
        with self._lock:
            self._held[part] = self._held.get(part, 0) + 1
        self.leases.take(part)

    def drop(self, part: Part) -> None:
        with self._lock:
            left = self._held.pop(part, 1) - 1
            if left > 0:
                self._held[part] = left
        if left <= 0:
            self.leases.release(part)

    def stop(self) -> None:
        self._stop.set()

    def tick(self) -> None:
        """Renew what this process runs, then send again the parts whose lease ran out."""
        with self._lock:
            held = list(self._held)
        self.leases.renew(held)
        for part in self.leases.reap():
            log.warning("task %s part %d: its worker stopped renewing; sent again", *part[:2])
            try:
                self.resend(part)
            except Exception:
                log.exception("task %s part %d could not be sent again", *part[:2])
                self.leases.expire_now(part)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.tick()
            except Exception as exc:  # Redis away: the next tick tries again
                log.warning("leases not renewed: %s: %s", type(exc).__name__, exc)
