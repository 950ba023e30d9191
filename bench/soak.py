"""A bounded soak of ``dermcad serve`` (embedded back end, shipped defaults) on loopback.

    python bench/soak.py --clients 8 --duration 180 --json bench/results/soak.json

Starts ``dermcad serve`` on a free 127.0.0.1 port with a fresh data folder and no ``DERMCAD_``
setting but the registry (the repository's ``models/`` unless ``--registry``): the default
model, the default TTA, one worker. Then ``--clients`` concurrent clients (threads, one HTTP
connection each) loop for ``--duration`` seconds, each as the thesis UI does: a
``POST /predict`` of one image or, with probability ``--bulk-share``, a ``POST /predict_bulk`` of
``--bulk-images`` images, then ``GET /from_task`` until it answers the items. The images are the
committed real CC0 fixtures (``tests/fixtures/isic-uda1/images``, 722x542 to 3072x2304 px).

Prints and writes (``--json``): HTTP requests, errors (any unexpected status, a connection
error, a missing or error item), tasks and images, p50/p95/max of the end-to-end time (POST to
the items) per kind, and the server's RSS (``/proc/PID/status``) every second: after a warm-up
(one bulk and one single image, not counted), after the ramp (the first tenth of the run, when
the clients' first uploads are decoded at once), at the end, the peak, and the growth per task:
the least-squares slope of RSS against tasks finished (whole run, and after the ramp), and end
minus warm-up over the tasks. The 1-minute load average at the start and the end says how busy
the machine was.
Exits 1 if any error occurred. A soak of a few minutes; it says nothing about days of uptime.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT / "tests" / "fixtures" / "isic-uda1" / "images"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def start_server(registry: Path, data_dir: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DERMCAD_")}
    env.update(DERMCAD_REGISTRY=str(registry), DERMCAD_DATA_DIR=str(data_dir))
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    command = [sys.executable, "-m", "dermcad.cli.main", "serve", "--port", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"dermcad serve exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return process, base
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    process.kill()
    sys.exit(f"dermcad serve not ready after 120 s: {log.read_text()[-2000:]}")


@dataclass
class Tally:
    """What the clients saw; every field is written under ``lock``."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    requests: int = 0
    errors: list[str] = field(default_factory=list)
    seconds: dict[str, list[float]] = field(default_factory=lambda: {"predict": [], "bulk": []})
    images: int = 0
    from_task_202: int = 0

    def error(self, text: str) -> None:
        with self.lock:
            self.errors.append(text)


def one_task(
    client: httpx.Client, files: list[tuple[str, bytes]], params: dict[str, Any], tally: Tally
) -> bool:
    """POST then GET /from_task until the items come; True if every item came back fine."""
    kind = "bulk" if len(files) > 1 else "predict"
    start = time.perf_counter()
    if kind == "bulk":
        parts = [("files", (name, data, "image/jpeg")) for name, data in files]
        answer = client.post("/predict_bulk", files=parts, params=params)
    else:
        name, data = files[0]
        answer = client.post("/predict", files={"file": (name, data, "image/jpeg")}, params=params)
    requests = 1
    ok = answer.status_code == 200
    if not ok:
        tally.error(f"{kind}: POST answered {answer.status_code}: {answer.text[:200]}")
    else:
        task = answer.json()["task_uuid"]
        while True:
            answer = client.get(f"/from_task/{task}")
            requests += 1
            if answer.status_code != 202:
                break
            with tally.lock:
                tally.from_task_202 += 1
        items = answer.json() if answer.status_code == 200 else None
        names = [name for name, _ in files]
        if items is None or [item.get("name") for item in items] != names:
            ok = False
            tally.error(f"{kind}: /from_task answered {answer.status_code}: {answer.text[:200]}")
        elif bad := [item["name"] for item in items if item["error"] is not None]:
            ok = False
            tally.error(f"{kind}: error items for {bad}")
    elapsed = time.perf_counter() - start
    with tally.lock:
        tally.requests += requests
        if ok:
            tally.seconds[kind].append(elapsed)
            tally.images += len(files)
    return ok


def client_loop(
    base: str, images: list[tuple[str, bytes]], args: argparse.Namespace, seed: int,
    stop: float, tally: Tally,
) -> None:  # fmt: skip
    rng = random.Random(seed)
    params = {"tta": args.tta} if args.tta else {}
    with httpx.Client(base_url=base, timeout=args.from_task_timeout) as client:
        while time.monotonic() < stop:
            count = args.bulk_images if rng.random() < args.bulk_share else 1
            files = rng.sample(images, count)
            try:
                one_task(client, files, params, tally)
            except httpx.HTTPError as exc:
                tally.error(f"{type(exc).__name__}: {exc}")


def percentiles(values: list[float]) -> dict[str, float | int | None]:
    if not values:
        return {"n": 0, "p50_s": None, "p95_s": None, "max_s": None}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        "n": len(ordered),
        "p50_s": round(statistics.median(ordered), 3),
        "p95_s": round(p95, 3),
        "max_s": round(ordered[-1], 3),
    }


def slope(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of y against x (None with fewer than two distinct x)."""
    xs = [x for x, _ in points]
    if len(set(xs)) < 2:
        return None
    mean_x = statistics.fmean(xs)
    mean_y = statistics.fmean(y for _, y in points)
    num = sum((x - mean_x) * (y - mean_y) for x, y in points)
    return num / sum((x - mean_x) ** 2 for x in xs)


def soak(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    images = [(p.name, p.read_bytes()) for p in sorted(args.images.glob("*.jp*g"))]
    if len(images) < args.bulk_images:
        sys.exit(f"{args.images}: {len(images)} JPEGs, fewer than --bulk-images")
    load_start = round(os.getloadavg()[0], 2)
    log = folder / "serve.log"
    process, base = start_server(args.registry, folder / "data", log)
    try:
        warm = Tally()
        with httpx.Client(base_url=base, timeout=args.from_task_timeout) as client:
            params = {"tta": args.tta} if args.tta else {}
            one_task(client, images[: args.bulk_images], params, warm)
            one_task(client, images[:1], params, warm)
        if warm.errors:
            sys.exit(f"warm-up failed: {warm.errors}")
        tally = Tally()
        samples: list[dict[str, float]] = []
        start = time.monotonic()
        stop = start + args.duration
        threads = [
            threading.Thread(target=client_loop, args=(base, images, args, i, stop, tally))
            for i in range(args.clients)
        ]
        for thread in threads:
            thread.start()
        while any(thread.is_alive() for thread in threads):
            with tally.lock:
                tasks = sum(len(v) for v in tally.seconds.values())
            samples.append(
                {"t_s": round(time.monotonic() - start, 1), "tasks": tasks,
                 "rss_mib": round(rss_mib(process.pid), 1)}
            )  # fmt: skip
            time.sleep(1.0)
        for thread in threads:
            thread.join()
        wall = time.monotonic() - start
        end_rss = rss_mib(process.pid)
        ready = httpx.get(f"{base}/readyz", timeout=10).status_code
    finally:
        process.terminate()
        process.wait(timeout=60)
    tasks = sum(len(v) for v in tally.seconds.values())
    fit = slope([(s["tasks"], s["rss_mib"]) for s in samples])
    # The first tenth of the run is the ramp: N clients' uploads decoded at once for the first time.
    steady = [s for s in samples if s["t_s"] >= args.duration / 10]
    steady_fit = slope([(s["tasks"], s["rss_mib"]) for s in steady])
    first = samples[0]["rss_mib"] if samples else end_rss
    return {
        "command": "python bench/soak.py " + " ".join(sys.argv[1:]),
        "server": "dermcad serve, embedded back end, defaults (one worker, the model's TTA)",
        "model": "default of the registry",
        "registry": args.registry.name,
        "clients": args.clients,
        "duration_s": args.duration,
        "wall_s": round(wall, 1),
        "bulk_share": args.bulk_share,
        "bulk_images": args.bulk_images,
        "tta": args.tta or "the model's default",
        "cpus": os.cpu_count(),
        "requests": tally.requests,
        "errors": len(tally.errors),
        "error_samples": tally.errors[:10],
        "tasks": tasks,
        "images": tally.images,
        "images_per_s": round(tally.images / wall, 2),
        "from_task_202": tally.from_task_202,
        "latency": {kind: percentiles(v) for kind, v in tally.seconds.items()},
        "readyz_at_end": ready,
        "rss_mib": {
            "after_warm_up": first,
            "end": round(end_rss, 1),
            "peak": max([s["rss_mib"] for s in samples] + [end_rss]),
            "after_ramp": steady[0]["rss_mib"] if steady else None,
        },
        "load_average_1min": {"start": load_start, "end": round(os.getloadavg()[0], 2)},
        "rss_kib_per_task": {
            "slope": None if fit is None else round(fit * 1024, 2),
            "slope_after_ramp": None if steady_fit is None else round(steady_fit * 1024, 2),
            "end_minus_warm_up": round((end_rss - first) * 1024 / tasks, 2) if tasks else None,
        },
        "rss_samples": samples[:: max(1, len(samples) // 60)],
    }


def print_report(report: dict[str, Any]) -> None:
    print(
        f"{report['clients']} clients, {report['wall_s']} s: {report['requests']} requests, "
        f"{report['errors']} errors, {report['tasks']} tasks, {report['images']} images "
        f"({report['images_per_s']}/s)"
    )
    for kind, row in report["latency"].items():
        print(
            f"  {kind:8} n={row['n']} p50={row['p50_s']} s p95={row['p95_s']} s "
            f"max={row['max_s']} s"
        )
    rss, per = report["rss_mib"], report["rss_kib_per_task"]
    print(
        f"  RSS MiB: after warm-up {rss['after_warm_up']}, after the ramp {rss['after_ramp']}, "
        f"end {rss['end']}, peak {rss['peak']}"
    )
    print(
        f"  RSS growth per task: slope {per['slope']} KiB (after the ramp "
        f"{per['slope_after_ramp']} KiB), end - warm-up {per['end_minus_warm_up']} KiB"
    )
    for line in report["error_samples"]:
        print(f"  error: {line}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients")
    parser.add_argument("--duration", type=float, default=180.0, help="seconds of load")
    parser.add_argument("--bulk-share", type=float, default=0.3, help="share of bulk requests")
    parser.add_argument("--bulk-images", type=int, default=8, help="images per bulk request")
    parser.add_argument("--tta", type=int, choices=[1, 4, 8], help="views (model default)")
    parser.add_argument("--registry", type=Path, default=ROOT / "models", help="model registry")
    parser.add_argument("--images", type=Path, default=IMAGES, help="folder of JPEGs")
    parser.add_argument(
        "--from-task-timeout", type=float, default=600.0, help="client timeout per request (s)"
    )
    parser.add_argument("--json", type=Path, help="write the report here")
    args = parser.parse_args()
    if args.clients < 1 or args.duration <= 0 or not 0 <= args.bulk_share <= 1:
        parser.error("--clients >= 1, --duration > 0 and --bulk-share in [0, 1]")
    with tempfile.TemporaryDirectory(prefix="dermcad-soak-") as folder:
        report = soak(args, Path(folder))
    print_report(report)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    sys.exit(1 if report["errors"] else 0)


if __name__ == "__main__":
    main()
