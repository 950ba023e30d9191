"""ResNet18 at 256 px, OpenVINO int8 (NNCF), end to end through the API on two cores (issue 7).

    python bench/int8_e2e.py --run runs/RESNET18_RUN --json bench/results/int8_e2e.json
    python bench/int8_e2e.py --random-run --json /tmp/int8_e2e.json   # speed only

Builds the package pair from a ResNet18-256 run directory with dermcad's own export (``--id``
fp32, ONNX Runtime; ``--int8 --quantizer openvino``, served by OpenVINO) into ``--registry`` (a
temporary folder unless given; packages already there are reused), or, with ``--random-run``,
from a random-initialised ResNet18 run over the 150 UDA-1 images of isic-real (speed does not
depend on the weights; its AUC means nothing). Then, with ``--images`` JPEGs made from
../shared/data/isic-real/images (resized copies at 1024x768, quality 90), measures in one run,
rounds interleaved, images per second:

- ``api-1w2t``: ``dermcad serve`` with 1 worker x 2 threads, one ``POST /predict_bulk`` of all
  images, then ``GET /from_task``; ``api-1w2t-2bulks``: the same server, two concurrent bulks of
  half the images each; ``api-2w1t-2bulks``: a second server with 2 workers x 1 thread, two
  concurrent bulks (one bulk is one task, and a task runs on one worker);
- ``api-1w2t-decode1``: a third server as the first, decoding the files of a request one at a
  time (``DERMCAD_DECODE_CONCURRENCY=1``; the others use the default, the CPUs, here 2);
- ``api-1w2t-fp32``: the float32 package on ONNX Runtime, same server, one bulk;
- ``in-process``: decode_image (draft) + to_array + ModelRunner.predict of the int8 package, two
  threads, no HTTP, queue or storage;
- ``thesis-Nt``: bench/thesis_server.py with N PyTorch threads (``--thesis-threads``, default 1
  and 2; ResNet18 eager float32, the model read from disk on every request, full-size decoding,
  inference in the event loop). Its two PyTorch threads collapse when the other core is busy, so
  the one-thread server is the stable reference.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from e2e_api import bulk, free_port, rss_mib, wait_ready

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data" / "isic-real"
FP32_ID, INT8_ID = "resnet18-256-fp32", "resnet18-256-int8-openvino"


def random_run(root: Path) -> Path:
    """A random-initialised ResNet18-256 run directory over the UDA-1 images of isic-real."""
    import torch

    sys.path.insert(0, str(ROOT / "scripts"))
    from isic_real_index import build

    from dermcad.data.index import write_index
    from dermcad.data.splits import split_holdout, write_split
    from dermcad.models import ModelConfig, build_model, preprocess_spec_for

    frame = build(REAL)
    index = root / "index.csv"
    write_index(frame, index, relative_paths=False)
    split = write_split(
        root / "split.json", frame, split_holdout(frame, seed=1), seed=1, group_by="auto"
    )
    torch.manual_seed(0)
    config = ModelConfig(net_type="resnet18")
    run = root / "run"
    run.mkdir()
    model = build_model(config, load_pretrained=False)
    torch.save({"model": model.state_dict(), "epoch": 0}, run / "best.pt")
    info = {
        "format": "dermcad-run/1",
        "name": "random-resnet18-256",
        "model": config.model_dump(mode="json"),
        "preprocess": preprocess_spec_for("resnet18", 256).to_dict(),
        "index": {"path": str(index), "fingerprint": ""},
        "split": {"path": str(split), "scheme": "holdout", "fold": None},
        "dataset": {},
        "versions": {"torch": torch.__version__},
    }
    (run / "run.json").write_text(json.dumps(info), encoding="utf-8")
    return run


def export_pair(run: Path, registry: Path) -> None:
    """The fp32 and the OpenVINO int8 package of ``run`` (kept when already published)."""
    from dermcad.export.from_run import ExportOptions, export_run

    for model_id, options in (
        (FP32_ID, ExportOptions()),
        (INT8_ID, ExportOptions(int8=True, int8_runtime="openvino")),
    ):
        if not (registry / model_id).is_dir():
            start = time.perf_counter()
            report = export_run(run, registry, model_id, options)
            q = report.manifest.quantization
            print(f"exported {model_id} in {time.perf_counter() - start:.0f} s", end="")
            print(
                f"; val AUC fp32 {q.fp32_melanoma_auc} -> int8 {q.int8_melanoma_auc}" if q else ""
            )


def make_jpegs(n: int, size: tuple[int, int], quality: int) -> list[tuple[str, bytes]]:
    """Resized copies (``size``, JPEG ``quality``) of the first ``n`` isic-real images by name."""
    import io

    from PIL import Image

    out = []
    for path in sorted((REAL / "images").glob("*.jpg"))[:n]:
        with Image.open(path) as image:
            buffer = io.BytesIO()
            image.convert("RGB").resize(size, Image.Resampling.BILINEAR).save(
                buffer, "JPEG", quality=quality
            )
        out.append((path.name, buffer.getvalue()))
    return out


def start_api(
    registry: Path, tmp: Path, workers: int, threads: int, batch: int, decode: int = 0
) -> tuple[Any, str]:
    """``dermcad serve``; ``decode``: DERMCAD_DECODE_CONCURRENCY (0: its default, the CPUs)."""
    port = free_port()
    env = {
        **os.environ,
        "DERMCAD_REGISTRY": str(registry),
        "DERMCAD_DATA_DIR": str(tmp / f"data-{workers}w{threads}t{decode}d"),
        "DERMCAD_DECODE_CONCURRENCY": str(decode),
        "DERMCAD_WORKERS": str(workers),
        "DERMCAD_THREADS_PER_WORKER": str(threads),
        "DERMCAD_BATCH_SIZE": str(batch),
        "DERMCAD_DEFAULT_MODEL": INT8_ID,
        "DERMCAD_MODELS": f"{INT8_ID},{FP32_ID}",
    }
    log = (tmp / f"serve-{workers}w{threads}t{decode}d.log").open("wb")
    exe = Path(sys.executable).parent / "dermcad"
    proc = subprocess.Popen(
        [str(exe), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=log,
    )
    return proc, f"http://127.0.0.1:{port}"


def start_thesis(tmp: Path, threads: int) -> tuple[Any, str]:
    import torch

    from dermcad.models import ModelConfig, build_model

    weights = tmp / "thesis-resnet18.pt"
    model = build_model(ModelConfig(net_type="resnet18"), load_pretrained=False)
    torch.save(model.state_dict(), weights)
    port = free_port()
    script = ROOT / "bench" / "thesis_server.py"
    args = ["--weights", str(weights), "--port", str(port), "--threads", str(threads)]
    proc = subprocess.Popen([sys.executable, str(script), *args], stdout=subprocess.DEVNULL)
    return proc, f"http://127.0.0.1:{port}"


def concurrent_bulks(base: str, files: list[tuple[str, bytes]], parts: int, model: str) -> float:
    """Seconds for ``parts`` concurrent bulks that share ``files``, until all are answered."""
    size = -(-len(files) // parts)
    chunks = [files[i : i + size] for i in range(0, len(files), size)]
    params = {"model_id": model, "tta": 1}
    start = time.perf_counter()
    with ThreadPoolExecutor(len(chunks)) as pool:
        list(pool.map(lambda chunk: bulk(base, chunk, params), chunks))
    return time.perf_counter() - start


class InProcess:
    """decode_image (draft) + to_array + ModelRunner.predict, the API's work without the API."""

    def __init__(self, registry: Path, model_id: str, threads: int, batch: int) -> None:
        from dermcad.inference.runner import ModelRunner
        from dermcad.inference.runtime import RuntimeOptions
        from dermcad.registry.store import open_package

        options = RuntimeOptions(intra_op_threads=threads)
        self.runner = ModelRunner.open(open_package(registry, model_id), options, batch)

    def run(self, files: list[tuple[str, bytes]]) -> float:
        from dermcad.inference.preprocess import decode_image, to_array

        manifest = self.runner.manifest
        start = time.perf_counter()
        for i in range(0, len(files), self.runner.batch_size):
            batch = np.stack(
                [
                    to_array(decode_image(data, draft_size=manifest.img_size), manifest.spec)
                    for _, data in files[i : i + self.runner.batch_size]
                ]
            )
            self.runner.predict(batch, 1)
        return time.perf_counter() - start


def measure(args: argparse.Namespace, registry: Path, tmp: Path) -> dict[str, Any]:
    files = make_jpegs(args.images, (1024, 768), 90)
    api_a, base_a = start_api(registry, tmp, 1, 2, args.batch_size)
    api_b, base_b = start_api(registry, tmp, 2, 1, args.batch_size)
    # The same server as api_a decoding one file at a time (as before decode_concurrency).
    api_c, base_c = start_api(registry, tmp, 1, 2, args.batch_size, decode=1)
    theses = {n: start_thesis(tmp, n) for n in args.thesis_threads}
    load_before = os.getloadavg()
    try:
        for proc, url in (
            (api_a, base_a + "/readyz"),
            (api_b, base_b + "/readyz"),
            (api_c, base_c + "/readyz"),
        ):
            wait_ready(url, proc, timeout=300)
        for proc, base_t in theses.values():
            wait_ready(base_t + "/healthz", proc)
        inproc = InProcess(registry, INT8_ID, 2, args.batch_size)
        variants: dict[str, Callable[[], float]] = {
            "api-1w2t": lambda: concurrent_bulks(base_a, files, 1, INT8_ID),
            "api-1w2t-decode1": lambda: concurrent_bulks(base_c, files, 1, INT8_ID),
            "api-1w2t-2bulks": lambda: concurrent_bulks(base_a, files, 2, INT8_ID),
            "api-2w1t-2bulks": lambda: concurrent_bulks(base_b, files, 2, INT8_ID),
            "api-1w2t-fp32": lambda: concurrent_bulks(base_a, files, 1, FP32_ID),
            "in-process": lambda: inproc.run(files),
        }
        for n, (_, base_t) in theses.items():
            variants[f"thesis-{n}t"] = lambda base_t=base_t: bulk(base_t, files, {})
        for fn in variants.values():  # warm-up: first compile, first requests
            fn()
        times: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(args.rounds):
            for name, fn in variants.items():
                times[name].append(fn())
        rss = {"api-1w2t": rss_mib(api_a.pid), "api-2w1t": rss_mib(api_b.pid)}
    finally:
        for proc in (api_a, api_b, api_c, *(proc for proc, _ in theses.values())):
            proc.terminate()
            proc.wait(timeout=30)
    ips = {k: [round(len(files) / t, 1) for t in v] for k, v in times.items()}
    median = {k: statistics.median(v) for k, v in ips.items()}
    return {
        "images": len(files),
        "image_size": [1024, 768],
        "jpeg_quality": 90,
        "rounds": args.rounds,
        "batch_size": args.batch_size,
        "cpus": os.cpu_count(),
        "images_per_s": ips,
        "median_images_per_s": median,
        "best_api_over_thesis": {
            k: max(v for k, v in median.items() if k.startswith("api-")) / median[k]
            for k in median
            if k.startswith("thesis")
        },
        "load_average_before_after": [load_before, os.getloadavg()],
        "server_rss_mib": rss,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--run", type=Path, help="a ResNet18-256 run directory")
    source.add_argument("--random-run", action="store_true", help="random weights (speed only)")
    parser.add_argument("--registry", type=Path, default=None, help="keep/reuse the packages here")
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--thesis-threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        registry = args.registry or tmp / "registry"
        run = args.run if args.run is not None else random_run(tmp)
        export_pair(run, registry)
        result = measure(args, registry, tmp)
    result["run"] = str(args.run) if args.run else "random-init ResNet18-256"
    print(
        f"{result['images']} JPEGs 1024x768 q90, {result['rounds']} rounds interleaved, "
        f"{result['cpus']} CPUs (shared machine), TTA 1, batch {result['batch_size']}"
    )
    print(f"{'variant':18} {'images/s per round':26} {'median':>7}")
    for name, values in result["images_per_s"].items():
        rounds = ", ".join(f"{v:.1f}" for v in values)
        print(f"{name:18} {rounds:26} {result['median_images_per_s'][name]:7.1f}")
    for name, ratio in result["best_api_over_thesis"].items():
        print(f"best API / {name}: {ratio:.1f}x")
    print(f"load average before, after: {result['load_average_before_after']}")
    print(f"server RSS MiB: {result['server_rss_mib']}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
