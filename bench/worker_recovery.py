"""Recovery of the distributed back end from a worker killed with ``kill -9``, shipped defaults.

    python bench/worker_recovery.py --json bench/results/worker_recovery.json

Starts a ``redis-server`` (from ``PATH``, on a free 127.0.0.1 port, append-only file, as the
compose file runs it; or ``--broker-url``), ``--workers`` ``dermcad worker`` processes and one
``dermcad serve`` over it, with no ``DERMCAD_`` setting but the broker and the registry (the
repository's ``models/`` unless ``--registry``). Submits ``--tasks`` bulk tasks of ``--images``
small generated JPEGs, waits ``--kill-after`` seconds, kills with ``SIGKILL`` a worker that
holds a running part (the first worker if none does), then polls until every task is done.
Prints the seconds from the kill to the last result, whether every image came back exactly once
and without an error, and the attempts of the killed part; exits 1 if any check fails or the
results take longer than ``--bound`` seconds after the kill.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_redis(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server not found on PATH; install it or pass --broker-url")
    port = free_port()
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder),
               "--appendonly", "yes", "--save", "", "--loglevel", "warning"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    wait_for(lambda: can_connect(port), 20, "redis-server")
    return process, f"redis://127.0.0.1:{port}/0"


def can_connect(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_for(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    sys.exit(f"{what} not ready within {timeout} s")


def images(count: int, seed: int) -> list[tuple[str, bytes]]:
    """Small JPEGs (96 px, smooth colour fields with noise): the same on every run."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        base = rng.integers(40, 220, size=3)
        pixels = np.clip(base + rng.normal(0, 25, size=(96, 96, 3)), 0, 255).astype(np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
        out.append((f"img{i:03d}.jpg", buffer.getvalue()))
    return out


def running_workers(client: Any, task_ids: list[str]) -> list[str]:
    """Pids of the workers that hold an unfinished part now."""
    pids = []
    for task_id in task_ids:
        record = {
            k.decode(): v.decode() for k, v in client.hgetall(f"dermcad:task:{task_id}").items()
        }
        for key, value in record.items():
            if key.startswith("worker:") and f"finished:{key[7:]}" not in record:
                pids.append(value.rsplit(":", 1)[1])
    return pids


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--broker-url", help="an existing Redis (default: start one)")
    parser.add_argument("--registry", type=Path, default=ROOT / "models")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--tasks", type=int, default=3)
    parser.add_argument("--images", type=int, default=60)
    parser.add_argument("--kill-after", type=float, default=1.0)
    parser.add_argument("--bound", type=float, default=90.0, help="seconds allowed after the kill")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    import httpx
    import redis

    with tempfile.TemporaryDirectory(prefix="dermcad-recovery-") as tmp:
        folder = Path(tmp)
        processes: list[subprocess.Popen[bytes]] = []
        try:
            url = args.broker_url
            if url is None:
                server, url = start_redis(folder)
                processes.append(server)
            env = {k: v for k, v in os.environ.items() if not k.startswith("DERMCAD_")}
            env.update(DERMCAD_BROKER_URL=url, DERMCAD_REGISTRY=str(args.registry))
            env.update(DERMCAD_DATA_DIR=str(folder / "api"), PYTHONUNBUFFERED="1")
            workers = []
            for n in range(args.workers):
                log = (folder / f"worker-{n}.log").open("wb")
                command = [sys.executable, "-m", "dermcad.cli.main", "worker"]
                workers.append(subprocess.Popen(command, env=env, stdout=log, stderr=log))
            processes += workers
            port = free_port()
            command = [sys.executable, "-m", "dermcad.cli.main", "serve", "--host", "127.0.0.1",
                       "--port", str(port)]  # fmt: skip
            api_log = (folder / "api.log").open("wb")
            processes.append(subprocess.Popen(command, env=env, stdout=api_log, stderr=api_log))
            base = f"http://127.0.0.1:{port}"
            for n in range(args.workers):
                log_path = folder / f"worker-{n}.log"
                wait_for(
                    lambda p=log_path: " ready." in p.read_text(errors="replace"), 120, "worker"
                )
            wait_for(lambda: can_connect(port), 120, "dermcad serve")
            http = httpx.Client(base_url=base, timeout=60)
            wait_for(lambda: http.get("/healthz").status_code == 200, 60, "dermcad serve")

            files = images(args.images, seed=0)
            task_ids = []
            for _ in range(args.tasks):
                upload = [("files", (name, data, "image/jpeg")) for name, data in files]
                response = http.post("/predict_bulk", files=upload)
                response.raise_for_status()
                task_ids.append(response.json()["task_uuid"])
            time.sleep(args.kill_after)
            store = redis.Redis.from_url(url)
            holding = running_workers(store, task_ids)
            by_pid = {str(w.pid): w for w in workers}
            victim = next((by_pid[p] for p in holding if p in by_pid), workers[0])
            victim.send_signal(signal.SIGKILL)
            killed = time.monotonic()
            victim.wait()

            finished: dict[str, float] = {}
            while len(finished) < len(task_ids) and time.monotonic() - killed < args.bound + 60:
                for task_id in task_ids:
                    if task_id not in finished:
                        status = http.get(f"/tasks/{task_id}").json()["status"]
                        if status in ("done", "failed"):
                            finished[task_id] = time.monotonic() - killed
                time.sleep(0.2)
            results = [http.get(f"/from_task/{t}").json() for t in task_ids if t in finished]
            names = [sorted(item["name"] for item in items) for items in results]
            each_once = len(results) == len(task_ids) and all(
                n == sorted(name for name, _ in files) for n in names
            )
            errors = sum(item["error"] is not None for items in results for item in items)
            attempts = [
                {k.decode(): int(v) for k, v in store.hgetall(f"dermcad:task:{t}").items()
                 if k.decode().startswith("attempts:")}
                for t in task_ids
            ]  # fmt: skip
            figures = {
                "workers": args.workers,
                "tasks": args.tasks,
                "images_per_task": args.images,
                "kill_after_s": args.kill_after,
                "killed_held_a_running_part": str(victim.pid) in holding,
                "results": sum(len(items) for items in results),
                "each_image_once": each_once,
                "error_items": errors,
                "part_attempts": attempts,
                "per_task_done_after_kill_s": [round(finished.get(t, -1.0), 1) for t in task_ids],
                "all_done_after_kill_s": round(max(finished.values(), default=-1.0), 1),
                "bound_s": args.bound,
            }
            print(json.dumps(figures, indent=2))
            if args.json:
                args.json.write_text(json.dumps(figures, indent=2) + "\n")
            ok = (
                len(finished) == len(task_ids)
                and each_once
                and errors == 0
                and max(finished.values()) <= args.bound
            )
            return 0 if ok else 1
        finally:
            for process in reversed(processes):
                if process.poll() is None:
                    process.terminate()
                    try:
                        process.wait(timeout=20)
                    except subprocess.TimeoutExpired:
                        process.kill()
                        process.wait()


if __name__ == "__main__":
    sys.exit(main())
