"""Leases on running parts (:mod:`dermcad.tasks.distributed.lease`) against a real Redis: a living
worker keeps its part however long it runs; a dead one's part is sent again, once."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis

from dermcad.settings import Settings
from dermcad.tasks.distributed.lease import LeaseKeeper, Leases, Part

pytestmark = pytest.mark.redis

LEASE = 1.0  # the mechanism at a short scale; the shipped timing is tested in test_workers.py


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def test_part_is_parsed_back_from_its_member() -> None:
    for part in (Part("a-b-c", 0, 64), Part("a-b-c", 128, None)):
        assert Part.parse(part.member) == part


def test_a_slow_living_worker_keeps_its_part(client: redis.Redis) -> None:
    sent: list[Part] = []
    slow = LeaseKeeper(Leases(client, "t", LEASE), LEASE, sent.append)
    other = Leases(client, "t", LEASE)  # another worker's reaper
    part = Part("task", 0, 64)
    try:
        slow.hold(part)
        deadline = time.monotonic() + 4 * LEASE  # a part four leases long
        while time.monotonic() < deadline:
            assert other.reap() == []
            time.sleep(LEASE / 10)
        slow.drop(part)
        assert client.zcard("t:leases") == 0  # released when the part ends
    finally:
        slow.stop()
    assert sent == []


def test_a_dead_workers_part_is_sent_again_once(client: redis.Redis) -> None:
    dead = Leases(client, "t", LEASE)
    part = Part("task", 64, 128)
    dead.take(part)  # held, then never renewed: the worker died
    sent: list[Part] = []
    reapers = [LeaseKeeper(Leases(client, "t", LEASE), LEASE, sent.append) for _ in range(2)]
    try:
        deadline = time.monotonic() + 10 * LEASE
        while not sent and time.monotonic() < deadline:
            time.sleep(LEASE / 10)
        time.sleep(LEASE)  # more ticks of both reapers
    finally:
        for reaper in reapers:
            reaper.stop()
    assert sent == [part]
    assert client.zcard("t:leases") == 0


def test_a_part_whose_resend_failed_is_tried_again(client: redis.Redis) -> None:
    leases = Leases(client, "t", LEASE)
    part = Part("task", 0, None)
    leases.expire_now(part)
    calls: list[Part] = []

    def flaky(p: Part) -> None:
        calls.append(p)
        if len(calls) == 1:
            raise ConnectionError("broker away")

    keeper = LeaseKeeper(leases, 1000.0, flaky)  # ticks driven by hand
    try:
        keeper.tick()
        keeper.tick()
    finally:
        keeper.stop()
    assert calls == [part, part]
    assert client.zcard("t:leases") == 0


def test_the_default_lease_recovers_within_30_s() -> None:
    """Worst case: lease since the last renewal plus one tick of a reaper."""
    lease = Settings.model_fields["lease_seconds"].default
    assert lease + lease / 5 <= 30.0
