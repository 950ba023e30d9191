"""End to end through the API against the in-process pipeline and a thesis-style baseline.

    python bench/e2e_api.py --threads 1 --json bench/results/e2e_1t.json

Starts ``dermcad serve`` (uvicorn, embedded back end, one worker, ``--threads`` ONNX Runtime
threads) and ``bench/thesis_server.py`` on 127.0.0.1, then, in the same run:

1. bulk: ``POST /predict_bulk`` of ``--images`` full-size JPEGs from ../shared/data/isic-real, then
   ``GET /from_task`` until it returns; against the in-process pipeline (decode_image with draft
   decoding, to_array, the same ModelRunner/session settings, the same TTA; no HTTP, queue or
   storage) and the thesis-style server, interleaved (API, in-process, thesis, API, ...).
2. latency: single-image ``POST /predict`` + ``GET /from_task`` with 1, 4 and 16 concurrent clients
   (bounded loops), p50/p95/p99, and the in-process time for one image: back to back, and after
   ``--idle-ms`` of idling before each image (not timed), because a model call that follows an
   idle pause is slower on this kind of machine and a server's worker idles between requests.
3. memory: the server's RSS (``/proc/PID/status``) after each of the bulk requests of a run of
   ``--rss-images`` images.

``--before-src DIR`` adds a second ``dermcad serve`` run from another source tree
(``PYTHONPATH=DIR/src``, e.g. a ``git worktree`` of the commit before a change), measured as
``api_before`` in the same rounds (the two servers' order alternates per round) and in the same
latency loops, for a same-run before/after:

    git worktree add --detach /tmp/dermcad-before <commit>   (its src/ and models/ are used)
    python bench/e2e_api.py --threads 1 --before-src /tmp/dermcad-before --json ...
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data" / "isic-real" / "images"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"{url} not ready after {timeout} s")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def bulk(base: str, files: list[tuple[str, bytes]], params: dict[str, Any]) -> float:
    """Seconds from the POST to the /from_task answer (checks every image got a result)."""
    parts = [("files", (name, data, "image/jpeg")) for name, data in files]
    start = time.perf_counter()
    with httpx.Client(base_url=base, timeout=600) as client:
        task = client.post("/predict_bulk", files=parts, params=params).raise_for_status().json()
        while True:
            answer = client.get(f"/from_task/{task['task_uuid']}")
            if answer.status_code == 200:
                break
            answer.raise_for_status()
    elapsed = time.perf_counter() - start
    if len(answer.json()) != len(files):
        raise SystemExit(f"{base}: {len(answer.json())} results for {len(files)} images")
    return elapsed


class InProcess:
    """decode_image (draft) + to_array + ModelRunner.predict: the API's work without the API."""

    def __init__(
        self, model_id: str, threads: int, batch_size: int, tta: int, providers: str
    ) -> None:
        from dermcad.inference.runner import ModelRunner
        from dermcad.inference.runtime import RuntimeOptions
        from dermcad.registry.store import open_package

        package = open_package(ROOT / "models", model_id)
        self.runner = ModelRunner.open(
            package,
            RuntimeOptions(intra_op_threads=threads, providers=tuple(providers.split(","))),
            batch_size,
        )
        self.tta = tta

    def run(self, files: list[tuple[str, bytes]]) -> float:
        from dermcad.inference.preprocess import decode_image, to_array

        manifest = self.runner.manifest
        start = time.perf_counter()
        for i in range(0, len(files), self.runner.batch_size):
            chunk = files[i : i + self.runner.batch_size]
            batch = np.stack(
                [
                    to_array(decode_image(d, draft_size=manifest.img_size), manifest.spec)
                    for _, d in chunk
                ]
            )
            self.runner.predict(batch, self.tta)
        return time.perf_counter() - start


def latency(
    base: str, files: list[tuple[str, bytes]], clients: int, per_client: int, tta: int
) -> list[float]:
    out: list[float] = []
    lock = threading.Lock()

    def worker(k: int) -> None:
        with httpx.Client(base_url=base, timeout=600) as client:
            for j in range(per_client):
                name, data = files[(k * per_client + j) % len(files)]
                start = time.perf_counter()
                task = client.post(
                    "/predict", files={"file": (name, data, "image/jpeg")}, params={"tta": tta}
                )
                answer = client.get(f"/from_task/{task.raise_for_status().json()['task_uuid']}")
                answer.raise_for_status()
                with lock:
                    out.append(time.perf_counter() - start)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values) * 1000, q))


def start_serve(
    args: argparse.Namespace, data_dir: Path, log_path: Path, src: Path | None
) -> tuple[subprocess.Popen[bytes], str]:
    """``dermcad serve`` on a free port (from ``src``'s source tree if given)."""
    port = free_port()
    env = {
        **os.environ,
        # The other tree's own packages: the same ONNX files, manifests in the schema it reads.
        "DERMCAD_REGISTRY": str((src or ROOT) / "models"),
        "DERMCAD_DATA_DIR": str(data_dir),
        "DERMCAD_WORKERS": "1",
        "DERMCAD_THREADS_PER_WORKER": str(args.threads),
        # Decode as many files at once as the in-process loop has threads for the model: with
        # --threads 1 both decode one file at a time, so the comparison stays one core each.
        "DERMCAD_DECODE_CONCURRENCY": str(args.threads),
        "DERMCAD_BATCH_SIZE": str(args.batch_size),
        "DERMCAD_DEFAULT_MODEL": args.model,
        "DERMCAD_MODELS": args.model,
        "DERMCAD_ONNX_PROVIDERS": args.providers,
    }
    if src is not None:
        env["PYTHONPATH"] = str(src / "src")
    exe = Path(sys.executable).parent / "dermcad"
    log = log_path.open("wb")
    server = subprocess.Popen(
        [str(exe), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=log,
    )
    return server, f"http://127.0.0.1:{port}"


def start_servers(args: argparse.Namespace, tmp: Path) -> tuple[Any, Any, str, str]:
    import torch

    from dermcad.models import ModelConfig, build_model

    weights = tmp / "thesis-resnet18.pt"
    torch.save(
        build_model(ModelConfig(net_type="resnet18"), load_pretrained=False).state_dict(), weights
    )
    tport = free_port()
    server, base = start_serve(args, tmp / "data", tmp / "serve.log", None)
    thesis = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "bench" / "thesis_server.py"),
            "--weights",
            str(weights),
            "--port",
            str(tport),
            "--threads",
            str(args.threads),
        ],
        stdout=subprocess.DEVNULL,
    )
    return server, thesis, base, f"http://127.0.0.1:{tport}"


def bulk_rounds(
    args: argparse.Namespace,
    apis: dict[str, str],
    inproc: InProcess,
    tbase: str,
    files: list[tuple[str, bytes]],
) -> dict[str, list[float]]:
    """Seconds per bulk, interleaved: the API server(s) (order alternating), in-process, thesis."""
    params = {"model_id": args.model, "tta": args.tta}
    times: dict[str, list[float]] = {**{k: [] for k in apis}, "in_process": [], "thesis": []}
    for r in range(args.rounds):
        for name in list(apis) if r % 2 == 0 else list(apis)[::-1]:
            times[name].append(bulk(apis[name], files, params))
        times["in_process"].append(inproc.run(files))
        times["thesis"].append(bulk(tbase, files, {}))
    return times


def latencies(
    args: argparse.Namespace, apis: dict[str, str], files: list[tuple[str, bytes]]
) -> dict[str, dict[int, dict[str, float]]]:
    lat: dict[str, dict[int, dict[str, float]]] = {k: {} for k in apis}
    for clients, per in ((1, 20), (4, 8), (16, 4)):
        for name, base in apis.items():
            vals = latency(base, files, clients, per, args.tta)
            lat[name][clients] = {
                "n": len(vals),
                "p50_ms": pct(vals, 50),
                "p95_ms": pct(vals, 95),
                "p99_ms": pct(vals, 99),
            }
    return lat


def run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    paths = sorted(REAL.glob("*.jpg"))
    files = [(p.name, p.read_bytes()) for p in paths[: args.images]]
    from PIL import Image

    sizes = [Image.open(p).size for p in paths[: args.images]]
    mpix = statistics.mean(w * h for w, h in sizes) / 1e6
    server, thesis, base, tbase = start_servers(args, tmp)
    procs = [server, thesis]
    apis = {"api": base}
    if args.before_src is not None:
        before, apis["api_before"] = start_serve(
            args, tmp / "data-before", tmp / "serve-before.log", args.before_src
        )
        procs.append(before)
    try:
        wait_ready(base + "/readyz", server)
        wait_ready(tbase + "/healthz", thesis)
        if args.before_src is not None:
            wait_ready(apis["api_before"] + "/readyz", before)
        params = {"model_id": args.model, "tta": args.tta}
        inproc = InProcess(args.model, args.threads, args.batch_size, args.tta, args.providers)
        for api in apis.values():  # warm
            bulk(api, files[:8], params)
        inproc.run(files[:8]), bulk(tbase, files[:2], {})
        times = bulk_rounds(args, apis, inproc, tbase, files)
        one = [inproc.run(files[i : i + 1]) for i in range(min(20, len(files)))]
        one_idle = []  # the same, after the CPU idled (as a server's worker does between requests)
        for i in range(min(20, len(files))):
            time.sleep(args.idle_ms / 1000)
            one_idle.append(inproc.run(files[i : i + 1]))
        lat = latencies(args, apis, files)
        rss = [rss_mib(server.pid)]
        done = 0
        while done < args.rss_images:
            bulk(base, files, params)
            done += len(files)
            rss.append(rss_mib(server.pid))
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=30)
    ips = {k: [len(files) / t for t in v] for k, v in times.items()}
    in_process = statistics.median(ips["in_process"])
    return {
        "threads": args.threads,
        "providers": args.providers,
        "model": args.model,
        "tta": args.tta,
        "images": len(files),
        "mean_megapixels": mpix,
        "batch_size": args.batch_size,
        "rounds": args.rounds,
        "before_src": None if args.before_src is None else str(args.before_src),
        "images_per_s": ips,
        "over_in_process": {k: statistics.median(ips[k]) / in_process for k in apis},
        "api_over_in_process": statistics.median(ips["api"]) / in_process,
        "api_over_thesis": statistics.median(ips["api"]) / statistics.median(ips["thesis"]),
        "in_process_one_image_ms": {"p50": pct(one, 50), "p95": pct(one, 95)},
        "in_process_one_image_after_idle_ms": {
            "idle_ms": args.idle_ms,
            "p50": pct(one_idle, 50),
            "p95": pct(one_idle, 95),
        },
        "latency": lat["api"],
        "latency_by_server": lat,
        "rss_mib_per_bulk": rss,
        "rss_images": done,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--model", default="ham10000-lite0-224")
    parser.add_argument("--tta", type=int, default=1)
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--rss-images", type=int, default=1000)
    parser.add_argument(
        "--providers", default="CPUExecutionProvider", help="DERMCAD_ONNX_PROVIDERS (OpenVINO...)"
    )
    parser.add_argument(
        "--idle-ms",
        type=float,
        default=20.0,
        help="idle pause before each image of the second in-process one-image measurement",
    )
    parser.add_argument(
        "--before-src",
        type=Path,
        default=None,
        help="a second source tree (e.g. a git worktree) whose server runs as api_before",
    )
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        r = run(args, Path(tmp))
    print(
        f"model {r['model']} ({r['providers']}) tta={r['tta']} threads={r['threads']} "
        f"{r['images']} JPEGs "
        f"(mean {r['mean_megapixels']:.2f} MP), rounds interleaved: API(s), in-process, thesis"
    )
    print(f"{'pipeline':12} {'img/s per round':30} {'median':>7}")
    for k, v in r["images_per_s"].items():
        print(f"{k:12} {', '.join(f'{x:.1f}' for x in v):30} {statistics.median(v):7.1f}")
    for k, v in r["over_in_process"].items():
        print(f"{k} / in-process {v:.0%}")
    print(f"API / thesis {r['api_over_thesis']:.1f}x")
    o = r["in_process_one_image_ms"]
    print(f"in-process one image: p50 {o['p50']:.1f} ms, p95 {o['p95']:.1f} ms")
    o = r["in_process_one_image_after_idle_ms"]
    print(
        f"in-process one image after {o['idle_ms']:.0f} ms idle: p50 {o['p50']:.1f} ms, "
        f"p95 {o['p95']:.1f} ms"
    )
    print(f"{'server':10} {'clients':>7} {'n':>4} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    for name, by_clients in r["latency_by_server"].items():
        for c, v in by_clients.items():
            print(
                f"{name:10} {c:>7} {v['n']:>4} {v['p50_ms']:8.1f} {v['p95_ms']:8.1f} "
                f"{v['p99_ms']:8.1f}"
            )
    print(
        f"server RSS MiB after each bulk of {r['images']} ({r['rss_images']} images): "
        + " ".join(f"{x:.0f}" for x in r["rss_mib_per_bulk"])
    )
    if args.json:
        args.json.write_text(json.dumps(r, indent=1))


if __name__ == "__main__":
    main()
