"""Pure parts of the distributed back end: its settings, parts of a task, redacted URLs."""

from __future__ import annotations

import pytest

from dermcad.settings import Settings
from dermcad.tasks.distributed.config import DistributedConfig, redacted
from dermcad.tasks.distributed.store import parts_of


def test_parts_cover_every_image_once_in_order() -> None:
    for total in (1, 5, 63, 64, 65, 200):
        for size in (1, 7, 64):
            parts = parts_of(total, size)
            assert [i for part in parts for i in part] == list(range(total))
            assert all(0 < len(part) <= size for part in parts)
            assert len(parts) == -(-total // size)


def test_passwords_never_reach_messages() -> None:
    assert redacted("redis://user:s3cret@redis.example:6380/2") == "redis://redis.example:6380/2"
    assert redacted("rediss://:s3cret@10.0.0.5/0") == "rediss://10.0.0.5/0"
    config = DistributedConfig(broker_url="redis://:s3cret@host:6379/0")
    assert "s3cret" not in config.where


def test_config_comes_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DERMCAD_BROKER_URL", raising=False)
    settings = Settings(
        broker_url="redis://redis:6379/1",
        ttl_seconds=60,
        max_queued_tasks=7,
        task_attempts=5,
        images_per_part=9,
        visibility_timeout=30,
        broker_timeout=0.5,
    )
    config = DistributedConfig.from_settings(settings)
    assert (config.broker_url, config.ttl_seconds, config.max_queued_tasks) == (
        "redis://redis:6379/1",
        60,
        7,
    )
    assert (config.max_attempts, config.part_size, config.visibility_timeout) == (5, 9, 30)
    assert config.socket_timeout == 0.5
    with pytest.raises(ValueError, match="DERMCAD_BROKER_URL"):
        DistributedConfig.from_settings(Settings())


def test_broker_url_must_be_redis() -> None:
    with pytest.raises(ValueError, match="broker_url"):
        Settings(broker_url="amqp://rabbit:5672//")
