"""What the task store costs per image: the PNG it used to keep against what it keeps now.

    python bench/store_cost.py --json bench/results/store.json

Until commit 2a60d67 the embedded back end saved each decoded (draft-size) upload as ``<i>.png``
(compress_level=1) and the worker reopened it; compress_level 0 is timed beside it for
comparison. Now the API keeps the model-ready pixels (the resize step of the one preprocessing
function, uint8, ``.npy``) and a display copy for heat maps (longest side at most 512 px, JPEG);
the worker loads the ``.npy``. Each variant: the work the API adds at upload ("save", the resize
excluded: the in-process pipeline does it too) and the work the worker adds ("load"), on the first
``--images`` isic-real JPEGs, one thread, variants interleaved per round.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data" / "isic-real" / "images"


def png_variant(level: int) -> tuple[Callable[[Any], list[bytes]], Callable[[list[bytes]], None]]:
    from PIL import Image

    def save(image: Any) -> list[bytes]:
        buf = io.BytesIO()
        image.save(buf, format="PNG", compress_level=level)
        return [buf.getvalue()]

    def load(blobs: list[bytes]) -> None:
        with Image.open(io.BytesIO(blobs[0])) as im:
            im.convert("RGB").load()

    return save, load


def prepared_variant(
    size: int,
) -> tuple[Callable[[Any], list[bytes]], Callable[[list[bytes]], None], Callable[[Any], Any]]:
    import numpy as np

    from dermcad.inference.preprocess import PreprocessSpec, resize
    from dermcad.inference.uploads import display_jpeg

    spec = PreprocessSpec(img_size=size)

    def resized(image: Any) -> Any:
        return np.asarray(resize(image, spec), dtype=np.uint8)

    def save(pixels_and_image: Any) -> list[bytes]:
        pixels, image = pixels_and_image
        buf = io.BytesIO()
        np.save(buf, pixels, allow_pickle=False)
        return [buf.getvalue(), display_jpeg(image)]

    def load(blobs: list[bytes]) -> None:
        np.load(io.BytesIO(blobs[0]), allow_pickle=False)

    return save, load, resized


def main() -> None:
    from dermcad.inference.preprocess import decode_image

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    paths = sorted(REAL.glob("*.jpg"))[: args.images]
    images = [decode_image(p.read_bytes(), draft_size=args.size) for p in paths]
    save_new, load_new, resized = prepared_variant(args.size)
    pixels = [(resized(im), im) for im in images]  # the resize is the pipeline's own work
    variants: dict[str, tuple[Any, Any, list[Any]]] = {
        "png level 1 (until 2a60d67)": (*png_variant(1), images),
        "png level 0": (*png_variant(0), images),
        "npy pixels + 512 px JPEG (now)": (save_new, load_new, pixels),
    }
    res: dict[str, dict[str, list[float]]] = {
        k: {"save_ms": [], "load_ms": [], "kib": [], "max_kib": []} for k in variants
    }
    for _ in range(args.rounds):
        for name, (save, load, inputs) in variants.items():
            start = time.perf_counter()
            blobs = [save(x) for x in inputs]
            res[name]["save_ms"].append((time.perf_counter() - start) / len(inputs) * 1000)
            start = time.perf_counter()
            for blob in blobs:
                load(blob)
            res[name]["load_ms"].append((time.perf_counter() - start) / len(inputs) * 1000)
            sizes = [sum(len(b) for b in blob) / 1024 for blob in blobs]
            res[name]["kib"].append(statistics.mean(sizes))
            res[name]["max_kib"].append(max(sizes))
    kpx = statistics.mean(im.size[0] * im.size[1] for im in images) / 1e3
    print(
        f"{len(images)} draft-decoded isic-real images (mean {kpx:.0f} kpx), "
        f"{args.rounds} rounds interleaved, medians"
    )
    head = f"{'save ms':>8} {'load ms':>8} {'sum ms':>7} {'KiB/img':>8} {'max KiB':>8}"
    print(f"{'stored as':32} {head}")
    for name, r in res.items():
        save_ms, load_ms = statistics.median(r["save_ms"]), statistics.median(r["load_ms"])
        print(
            f"{name:32} {save_ms:8.2f} {load_ms:8.2f} {save_ms + load_ms:7.2f} "
            f"{statistics.median(r['kib']):8.0f} {max(r['max_kib']):8.0f}"
        )
    if args.json:
        args.json.write_text(json.dumps({"size": args.size, "variants": res}, indent=1))


if __name__ == "__main__":
    main()
