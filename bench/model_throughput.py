"""Model-only throughput per runtime and batch size, and its share of the machine's measured peak.

    python bench/model_throughput.py --threads 1 --json /tmp/model_1t.json

Models: ResNet18 at 256 px (random initialisation: speed does not depend on the weights; exported
with dermcad's own ONNX export, int8 with dermcad's static QDQ quantizer calibrated on real ISIC
images) and the shipped EfficientNet-Lite0 at 224 px (its model.onnx and its -int8 package; its
PyTorch eager twin is built with dermcad's build_model, random weights). Runtimes: PyTorch eager
float32 (NCHW), ONNX Runtime float32 and int8 (QDQ), OpenVINO bf16 and int8 (NNCF post-training
quantization of the same float32 ONNX file) when openvino/nncf are installed, and
``openvino-pkg``: what a ``dermcad export --int8 --quantizer openvino`` package runs (dermcad's
``quantize_nncf`` on the same file, opened by ``inference.runtime.make_session`` as the server
does).

Every configuration is measured once per round and the rounds are interleaved (A, B, C, ..., A, B,
C, ...): the machine's CPU share drifts, so only figures from the same run are compared. The table
gives the median and best round.

Peak: the script times a large float32 matmul (PyTorch/oneDNN, the same thread count) for the
float32 GFLOP/s peak, and a bf16 matmul (oneDNN: AMX on CPUs that have it) for the bf16 peak. The
int8 peak is *estimated* as twice the measured bf16 peak (AMX/VNNI int8 does two int8 MACs per bf16
MAC slot); where the bf16 matmul is no faster than float32 (no bf16 units), as four times float32
(AVX-512 VNNI).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data" / "isic-real" / "images"
GFLOP: dict[str, float] = {}  # per image, counted with torch.utils.flop_counter (2 x MAC)


@dataclass
class Config:
    model: str
    runtime: str
    precision: str
    batch: int
    fn: Callable[[np.ndarray], Any]


def measure_peak(threads: int) -> dict[str, float]:
    import torch

    torch.set_num_threads(threads)
    n = 2048
    out: dict[str, float] = {}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        a = torch.randn(n, n).to(dtype)
        b = torch.randn(n, n).to(dtype)
        torch.mm(a, b)
        best = 0.0
        for _ in range(5):
            start = time.perf_counter()
            reps = 0
            while time.perf_counter() - start < 0.4:
                torch.mm(a, b)
                reps += 1
            best = max(best, 2 * n**3 * reps / (time.perf_counter() - start) / 1e9)
        out[name] = best
    has_bf16_units = out["bf16"] > 1.3 * out["fp32"]
    out["int8_estimated"] = 2 * out["bf16"] if has_bf16_units else 4 * out["fp32"]
    return out


def real_batches(spec: Any, n: int) -> np.ndarray:
    from dermcad.inference.preprocess import preprocess

    files = sorted(REAL.glob("*.jpg"))[:n]
    return np.stack([preprocess(p, spec) for p in files])


def build_torch(net_type: str) -> Any:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from dermcad.models import ModelConfig, build_model

    model = build_model(ModelConfig(net_type=net_type), load_pretrained=False).eval()
    size = 256 if net_type == "resnet18" else 224
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.zeros(1, 3, size, size))
    GFLOP[f"{'resnet18' if net_type == 'resnet18' else 'lite0'}-{size}"] = (
        counter.get_total_flops() / 1e9
    )

    def run(x: np.ndarray) -> Any:
        with torch.inference_mode():
            return model(torch.from_numpy(x))

    return model, run


def ort_fn(path: Path, threads: int) -> Callable[[np.ndarray], Any]:
    from dermcad.inference.runtime import RuntimeOptions, make_session

    session = make_session(path, RuntimeOptions(intra_op_threads=threads))
    return lambda x: session.run(["logits"], {"image": x})


def ov_fns(
    fp32_onnx: Path, calib: np.ndarray, threads: int, size: int
) -> dict[str, Callable[[np.ndarray], Any]]:
    try:
        import openvino as ov
    except ImportError:
        return {}
    core = ov.Core()
    common = {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY"}
    fns: dict[str, Callable[[np.ndarray], Any]] = {}
    model = core.read_model(str(fp32_onnx))
    model.reshape({"image": [-1, 3, size, size]})
    compiled = core.compile_model(model, "CPU", {**common, "INFERENCE_PRECISION_HINT": "bf16"})
    fns["bf16"] = _ov_runner(compiled)
    try:
        import nncf

        quant = nncf.quantize(
            core.read_model(str(fp32_onnx)),
            nncf.Dataset(list(calib[:, None])),
            subset_size=len(calib),
        )
        quant.reshape({"image": [-1, 3, size, size]})
        fns["int8"] = _ov_runner(core.compile_model(quant, "CPU", common))
    except ImportError:
        pass
    return fns


def _ov_runner(compiled: Any) -> Callable[[np.ndarray], Any]:
    request = compiled.create_infer_request()
    return lambda x: request.infer({0: x})


def time_config(cfg: Config, x: np.ndarray, min_seconds: float) -> float:
    cfg.fn(x)  # warm-up (also the first-shape compile)
    start = time.perf_counter()
    calls = 0
    while True:
        cfg.fn(x)
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds and calls >= 2:
            return calls * len(x) / elapsed


def pkg_fn(fp32_onnx: Path, calib: np.ndarray, threads: int, tmp: Path) -> Any:
    """dermcad's NNCF int8 file behind the session the server opens for a runtime: openvino
    package (OpenVINO:f32 hint; its convolutions run in int8)."""
    from dermcad.export.quantize import quantize_nncf
    from dermcad.inference.runtime import RuntimeOptions, make_session

    path = tmp / f"{fp32_onnx.stem}-nncf.onnx"
    quantize_nncf(fp32_onnx, path, [calib[i : i + 1] for i in range(len(calib))])
    session = make_session(path, RuntimeOptions(intra_op_threads=threads), runtime="openvino")
    return lambda x: session.run(["logits"], {"image": x})


def make_configs(
    threads: int, batches: list[int], tmp: Path, ov: bool, lite0: bool = True
) -> list[Config]:
    import torch

    from dermcad.export.onnx_export import export_onnx
    from dermcad.export.quantize import quantize_int8
    from dermcad.models import preprocess_spec_for

    torch.set_num_threads(threads)
    configs: list[Config] = []
    # ResNet18 at 256 px
    spec = preprocess_spec_for("resnet18", 256)
    calib = real_batches(spec, 32)
    r18, r18_run = build_torch("resnet18")
    fp32 = tmp / "resnet18.onnx"
    export_onnx(r18, 256, fp32, features=False)
    int8 = tmp / "resnet18-int8.onnx"
    quantize_int8(fp32, int8, [calib[i : i + 8] for i in range(0, 32, 8)])
    runs: list[tuple[str, str, str, Callable[[np.ndarray], Any]]] = [
        ("resnet18-256", "pytorch-eager", "fp32", r18_run),
        ("resnet18-256", "onnxruntime", "fp32", ort_fn(fp32, threads)),
        ("resnet18-256", "onnxruntime", "int8", ort_fn(int8, threads)),
    ]
    if ov:
        for prec, fn in ov_fns(fp32, calib, threads, 256).items():
            runs.append(("resnet18-256", "openvino", prec, fn))
        runs.append(("resnet18-256", "openvino-pkg", "int8", pkg_fn(fp32, calib, threads, tmp)))
    if not lite0:
        return [Config(m, r, p, b, fn) for m, r, p, fn in runs for b in batches]
    # shipped Lite0 at 224 px
    lite = ROOT / "models" / "ham10000-lite0-224"
    lite_calib = real_batches(preprocess_spec_for("tf_efficientnet_lite0", 224), 32)
    _, lite_run = build_torch("tf_efficientnet_lite0")
    runs += [
        ("lite0-224", "pytorch-eager", "fp32", lite_run),
        ("lite0-224", "onnxruntime", "fp32", ort_fn(lite / "model.onnx", threads)),
        (
            "lite0-224",
            "onnxruntime",
            "int8",
            ort_fn(ROOT / "models" / "ham10000-lite0-224-int8" / "model.onnx", threads),
        ),
    ]
    if ov:
        for prec, fn in ov_fns(lite / "model.onnx", lite_calib, threads, 224).items():
            runs.append(("lite0-224", "openvino", prec, fn))
    for model, runtime, prec, fn in runs:
        for b in batches:
            configs.append(Config(model, runtime, prec, b, fn))
    return configs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batches", default="1,8,32")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=1.0, help="minimum time per measurement")
    parser.add_argument("--no-openvino", action="store_true")
    parser.add_argument("--no-lite0", action="store_true", help="ResNet18 only")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    batches = [int(b) for b in args.batches.split(",")]
    peak = measure_peak(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        configs = make_configs(
            args.threads, batches, Path(tmp), not args.no_openvino, not args.no_lite0
        )
        rng = np.random.default_rng(0)
        inputs = {
            (m, b): rng.standard_normal((b, 3, s, s), dtype=np.float32)
            for m, s in (("resnet18-256", 256), ("lite0-224", 224))
            for b in batches
        }
        results: dict[int, list[float]] = {i: [] for i in range(len(configs))}
        for _ in range(args.rounds):  # interleaved: every config once per round
            for i, cfg in enumerate(configs):
                x = inputs[(cfg.model, cfg.batch)]
                results[i].append(time_config(cfg, x, args.seconds))
        peak_again = measure_peak(args.threads)
    rows = []
    for i, cfg in enumerate(configs):
        med, best = statistics.median(results[i]), max(results[i])
        key = "int8_estimated" if cfg.precision == "int8" else cfg.precision
        gflops = med * GFLOP[cfg.model]
        rows.append(
            {
                "model": cfg.model,
                "runtime": cfg.runtime,
                "precision": cfg.precision,
                "batch": cfg.batch,
                "images_per_s_median": round(med, 1),
                "images_per_s_best": round(best, 1),
                "rounds": [round(v, 1) for v in results[i]],
                "gflops": round(gflops, 1),
                "share_of_peak": round(gflops / peak[key], 3),
            }
        )
    print(f"threads={args.threads} rounds={args.rounds} (interleaved)")
    print("GFLOP per image: " + ", ".join(f"{k} {v:.2f}" for k, v in GFLOP.items()))
    print("peak GFLOP/s before: " + ", ".join(f"{k} {v:.0f}" for k, v in peak.items()))
    print("peak GFLOP/s after:  " + ", ".join(f"{k} {v:.0f}" for k, v in peak_again.items()))
    print(
        f"{'model':13} {'runtime':14} {'prec':5} {'batch':>5} {'img/s med':>9} {'best':>7} "
        f"{'GFLOP/s':>8} {'of peak':>7}"
    )
    for r in rows:
        print(
            f"{r['model']:13} {r['runtime']:14} {r['precision']:5} {r['batch']:>5} "
            f"{r['images_per_s_median']:>9} {r['images_per_s_best']:>7} {r['gflops']:>8} "
            f"{r['share_of_peak']:>7.0%}"
        )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "threads": args.threads,
                    "gflop_per_image": GFLOP,
                    "peak": peak,
                    "peak_after": peak_again,
                    "rows": rows,
                },
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
