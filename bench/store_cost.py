"""What the embedded queue's image store costs per image: PNG save and reload of the decoded upload.

    python bench/store_cost.py --json bench/results/store.json

The embedded back end stores each decoded (draft-size) upload as ``<i>.png`` (compress_level=1)
and the worker reopens it; the in-process pipeline does neither. Times both, and compress_level 0
for comparison, interleaved (1, 0, 1, 0), one thread, on the first ``--images`` isic-real JPEGs.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data" / "isic-real" / "images"


def main() -> None:
    from PIL import Image

    from dermcad.preprocess import decode_image

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    paths = sorted(REAL.glob("*.jpg"))[: args.images]
    images = [decode_image(p.read_bytes(), draft_size=args.size) for p in paths]
    res: dict[int, dict[str, list[float]]] = {
        lvl: {"save_ms": [], "load_ms": [], "kib": []} for lvl in (1, 0)
    }
    for _ in range(args.rounds):
        for lvl in (1, 0):
            blobs = []
            start = time.perf_counter()
            for im in images:
                buf = io.BytesIO()
                im.save(buf, format="PNG", compress_level=lvl)
                blobs.append(buf.getvalue())
            save = (time.perf_counter() - start) / len(images) * 1000
            start = time.perf_counter()
            for blob in blobs:
                with Image.open(io.BytesIO(blob)) as im:
                    im.convert("RGB")
            load = (time.perf_counter() - start) / len(images) * 1000
            res[lvl]["save_ms"].append(save)
            res[lvl]["load_ms"].append(load)
            res[lvl]["kib"].append(statistics.mean(len(b) for b in blobs) / 1024)
    print(f"{len(images)} draft-decoded isic-real images, {args.rounds} rounds interleaved")
    print(f"{'compress_level':>14} {'save ms':>8} {'load ms':>8} {'KiB/image':>10}")
    for lvl, r in res.items():
        print(
            f"{lvl:>14} {statistics.median(r['save_ms']):8.1f} "
            f"{statistics.median(r['load_ms']):8.1f} {statistics.median(r['kib']):10.0f}"
        )
    if args.json:
        args.json.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
