"""Decode + preprocess cost per full-size JPEG, with and without reduced-size (draft) decoding.

    python bench/decode_cost.py --json bench/results/decode.json [--e2e bench/results/e2e_1t.json]

One thread (this script is single-threaded). For each image size found in
../shared/data/isic-real (up to 3072x2304), times dermcad's own ``decode_image`` (full decode, and
``draft_size`` = the model's input size) followed by ``to_array`` (resize, normalise, CHW), the two
modes interleaved image by image, best of ``--repeats``. With ``--e2e`` (a JSON written by
bench/e2e_api.py), it also gives the decode share of the measured end-to-end time per image.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data" / "isic-real" / "images"


def best_ms(fn: Any, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best * 1000


def main() -> None:
    from PIL import Image

    from dermcad.inference.preprocess import PreprocessSpec, decode_image, to_array

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=224, help="model input size (224: Lite0)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--per-size", type=int, default=3, help="images per distinct size")
    parser.add_argument("--e2e", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    spec = PreprocessSpec(img_size=args.size, interpolation="bicubic")
    by_size: dict[tuple[int, int], list[Path]] = defaultdict(list)
    for path in sorted(REAL.glob("*.jpg")):
        with Image.open(path) as im:
            by_size[im.size].append(path)
    rows = []
    for size, paths in sorted(by_size.items(), key=lambda kv: kv[0][0] * kv[0][1]):
        full, draft = [], []
        for path in paths[: args.per_size]:
            data = path.read_bytes()
            for mode, out in ((None, full), (args.size, draft)):  # interleaved per image
                out.append(
                    best_ms(
                        lambda d=data, m=mode: to_array(decode_image(d, draft_size=m), spec),
                        args.repeats,
                    )
                )
        rows.append(
            {
                "width": size[0],
                "height": size[1],
                "images_in_set": len(paths),
                "timed": len(full),
                "full_ms": statistics.median(full),
                "draft_ms": statistics.median(draft),
            }
        )
    n_all = sum(r["images_in_set"] for r in rows)
    mean_full = sum(r["full_ms"] * r["images_in_set"] for r in rows) / n_all
    mean_draft = sum(r["draft_ms"] * r["images_in_set"] for r in rows) / n_all
    print(f"decode_image + to_array to {args.size} px, one thread, best of {args.repeats}")
    print(f"{'size':>11} {'n':>4} {'full ms':>8} {'draft ms':>9} {'speed-up':>8}")
    for r in rows:
        print(
            f"{r['width']:>5}x{r['height']:<5} {r['images_in_set']:>4} {r['full_ms']:8.1f} "
            f"{r['draft_ms']:9.1f} {r['full_ms'] / r['draft_ms']:7.1f}x"
        )
    print(f"all {n_all} images, weighted mean: full {mean_full:.1f} ms, draft {mean_draft:.1f} ms")
    out: dict[str, Any] = {
        "size": args.size,
        "rows": rows,
        "mean_full_ms": mean_full,
        "mean_draft_ms": mean_draft,
    }
    if args.e2e:
        e2e = json.loads(args.e2e.read_text())
        names = sorted(REAL.glob("*.jpg"))[: e2e["images"]]
        draft_first = statistics.mean(
            best_ms(
                lambda p=p: to_array(decode_image(p.read_bytes(), draft_size=args.size), spec), 1
            )
            for p in names
        )
        for key, values in e2e["images_per_s"].items():
            per_image = 1000 / statistics.median(values)
            share = draft_first / per_image
            out[f"share_{key}"] = share
            print(
                f"{key}: {per_image:.1f} ms per image end to end; draft decode+preprocess of the "
                f"same {len(names)} images {draft_first:.1f} ms = {share:.0%}"
            )
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
