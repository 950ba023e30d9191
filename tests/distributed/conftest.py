"""Fixtures of the distributed back end's tests: a real redis-server (started here, on a free
loopback port), real ``dermcad worker`` processes and the API over the tiny exported model."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from serving.tiny import Tiny, get_tiny

from .redis_server import RedisServer


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Tiny:
    return get_tiny(tmp_path_factory)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    """The server's URL, emptied before each test (the server itself is restarted if needed)."""
    import redis

    if redis_server.process is None:
        redis_server.start()
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    yield redis_server.url


class Worker:
    """A ``dermcad worker`` subprocess and its log."""

    def __init__(self, process: subprocess.Popen[bytes], log: Path) -> None:
        self.process = process
        self.log = log

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"worker exited with {self.process.returncode}:\n{self.tail()}")
            if " ready." in self.log.read_text(errors="replace"):
                return
            time.sleep(0.1)
        pytest.fail(f"worker not ready within {timeout} s:\n{self.tail()}")

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def kill(self) -> None:
        """``kill -9``: no chance to acknowledge, requeue or clean up."""
        os.kill(self.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def worker_env(tiny: Tiny, broker_url: str, **extra: str) -> dict[str, str]:
    """The shipped timing (lease and visibility timeout): no test shortens it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DERMCAD_")}
    env.update(
        DERMCAD_BROKER_URL=broker_url,
        DERMCAD_REGISTRY=str(tiny.registry),
        DERMCAD_THREADS_PER_WORKER="1",
        DERMCAD_BATCH_SIZE="4",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


StartWorker = Callable[..., Worker]


@pytest.fixture
def start_worker(tiny: Tiny, redis_url: str, tmp_path: Path) -> Iterator[StartWorker]:
    """Start ``dermcad worker`` processes (stopped at the end of the test)."""
    started: list[Worker] = []

    def start(*args: str, wait: bool = True, **env: str) -> Worker:
        log = tmp_path / f"worker-{len(started)}.log"
        command = [sys.executable, "-m", "dermcad.cli.main", "worker", "--loglevel=INFO", *args]
        with log.open("wb") as out:
            process = subprocess.Popen(
                command,
                env=worker_env(tiny, redis_url, **env),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        worker = Worker(process, log)
        started.append(worker)
        if wait:
            worker.wait_ready()
        return worker

    yield start
    for worker in started:
        worker.stop()


MakeClient = Callable[..., TestClient]


@pytest.fixture
def make_client(tiny: Tiny, redis_url: str, tmp_path: Path) -> Iterator[MakeClient]:
    """``make_client(**settings)``: the API over the distributed back end, lifespan entered."""
    from dermcad.api.app import create_app
    from dermcad.settings import Settings

    clients: list[TestClient] = []

    def make(**overrides: Any) -> TestClient:
        values: dict[str, Any] = {
            "registry": tiny.registry,
            "data_dir": tmp_path / "api-data",
            "broker_url": redis_url,
            "from_task_wait": 60.0,
            "broker_timeout": 0.5,
            "max_files": 500,
        }
        values.update(overrides)
        client = TestClient(create_app(Settings(**values)))
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)
