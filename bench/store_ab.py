"""A/B in one run: the stock embedded store (PNG compress_level=1) vs the same server storing its
PNGs at compress_level=0, to size what the image store costs end to end.

    python bench/store_ab.py --threads 1 --json bench/results/store_ab.json

Variant B is a bench-only launcher (``--png0-serve``): it patches Pillow's PNG save in its own
process to compress_level=0 and then runs ``create_app(load_settings())`` with uvicorn, exactly as
``dermcad serve`` would. Both servers: embedded back end, one worker, ``--threads`` threads,
Lite0 float32, TTA 1. Bulks of 64 isic-real JPEGs alternate A, B, A, B, ...

Historical: it measured the store of commits up to a21e6bc. Since 2a60d67 the store writes no PNG
(it keeps the model-ready pixels and a small JPEG display copy), so the patch changes nothing; a
before/after of a store change is now ``bench/e2e_api.py --before-src <worktree>``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from e2e_api import REAL, ROOT, bulk, free_port, wait_ready


def png0_serve(port: int) -> None:
    import uvicorn
    from PIL import Image

    from dermcad.api.app import create_app
    from dermcad.api.settings import load_settings

    original = Image.Image.save

    def save(self: Image.Image, fp: Any, format: Any = None, **params: Any) -> None:
        if (format or "").upper() == "PNG":
            params["compress_level"] = 0
        original(self, fp, format, **params)

    Image.Image.save = save  # type: ignore[method-assign]
    uvicorn.run(create_app(load_settings()), host="127.0.0.1", port=port, log_level="warning")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--png0-serve", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if args.png0_serve:
        png0_serve(args.png0_serve)
        return
    model = "ham10000-lite0-224"
    files = [(p.name, p.read_bytes()) for p in sorted(REAL.glob("*.jpg"))[:64]]
    with tempfile.TemporaryDirectory() as tmp:
        procs, bases = [], {}
        for name in ("png1 (stock)", "png0"):
            port = free_port()
            env = {
                **os.environ,
                "DERMCAD_REGISTRY": str(ROOT / "models"),
                "DERMCAD_DATA_DIR": str(Path(tmp) / name[:4]),
                "DERMCAD_WORKERS": "1",
                "DERMCAD_THREADS_PER_WORKER": str(args.threads),
                "DERMCAD_MODELS": model,
            }
            cmd = (
                [str(Path(sys.executable).parent / "dermcad"), "serve", "--port", str(port)]
                if name.startswith("png1")
                else [sys.executable, __file__, "--png0-serve", str(port)]
            )
            procs.append(
                subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            )
            bases[name] = f"http://127.0.0.1:{port}"
        try:
            for proc, base in zip(procs, bases.values(), strict=True):
                wait_ready(base + "/readyz", proc)
            params = {"model_id": model, "tta": 1}
            for base in bases.values():
                bulk(base, files[:8], params)
            ips: dict[str, list[float]] = {k: [] for k in bases}
            for _ in range(args.rounds):
                for name, base in bases.items():
                    ips[name].append(len(files) / bulk(base, files, params))
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(timeout=30)
    print(
        f"/predict_bulk of 64 isic-real JPEGs, Lite0 fp32, TTA 1, {args.threads} thread(s), "
        f"{args.rounds} rounds interleaved"
    )
    for name, vals in ips.items():
        print(
            f"{name:14} {', '.join(f'{v:.1f}' for v in vals):24} median "
            f"{statistics.median(vals):.1f} images/s"
        )
    if args.json:
        args.json.write_text(json.dumps({"threads": args.threads, "images_per_s": ips}, indent=1))


if __name__ == "__main__":
    main()
