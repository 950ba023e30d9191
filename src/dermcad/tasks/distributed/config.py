"""The distributed back end's settings, as a plain value (built from the API's ``Settings``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from dermcad.settings import Settings

MiB = 1024 * 1024
TASK_NAME = "dermcad.predict"


@dataclass(frozen=True)
class DistributedConfig:
    """Where Redis is, how long records live, and how hard the back end tries.

    ``socket_timeout`` bounds every Redis call of the API: a closed port is a 503 at once, a
    silent server (a network partition) after at most four timeouts (two connection attempts,
    each waiting for the handshake and the command). Workers ride out a Redis restart of up to
    ``worker_outage`` seconds. A task is sent as parts of ``part_size`` images, one message each,
    so that several workers share a bulk task. ``visibility_timeout`` is how long a part taken by
    a worker that vanished (``kill -9``, a lost machine) waits before it is delivered again: it
    must exceed the longest part; ``lease_seconds`` (see :mod:`.lease`) brings such a part back
    long before that.
    """

    broker_url: str
    ttl_seconds: float = 24 * 3600.0
    max_queued_tasks: int = 1000
    max_attempts: int = 3
    max_task_bytes: int = 256 * MiB
    part_size: int = 64
    visibility_timeout: float = 3600.0
    lease_seconds: float = 15.0
    socket_timeout: float = 1.0
    worker_outage: float = 60.0
    retry_after: int = 10
    queue: str = "dermcad"
    key_prefix: str = "dermcad"
    heatmap_url: str = "/tasks/{task_id}/heatmaps/{index}.png"

    @classmethod
    def from_settings(cls, settings: Settings) -> DistributedConfig:
        if not settings.broker_url:
            raise ValueError("the distributed back end needs DERMCAD_BROKER_URL")
        return cls(
            broker_url=settings.broker_url,
            ttl_seconds=settings.ttl_seconds,
            max_queued_tasks=settings.max_queued_tasks,
            max_attempts=settings.task_attempts,
            max_task_bytes=settings.max_task_bytes,
            part_size=settings.images_per_part,
            visibility_timeout=settings.visibility_timeout,
            lease_seconds=settings.lease_seconds,
            socket_timeout=settings.broker_timeout,
        )

    @property
    def where(self) -> str:
        """The broker's address without credentials, for messages and logs."""
        return redacted(self.broker_url)


def redacted(url: str) -> str:
    """``redis://user:secret@host:6379/0`` -> ``redis://host:6379/0``."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"
