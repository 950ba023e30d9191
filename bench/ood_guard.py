"""Every figure of the out-of-distribution guard's targets for one package (docs/models.md).

    python bench/ood_guard.py --package models/ham10000-lite0-224 \\
        --index work/ham10000.csv --split work/ham10000-split.json \\
        --external isic-uda1=work/isic-uda1.csv --external isic2017-test=work/isic2017-test.csv \\
        --out bench/results/ood_guard_lite0.json

Real dermoscopy: the split's ``val`` (the reference the threshold was set on) and ``test`` images,
and every image of each ``--external`` index CSV (e.g. ``scripts/isic_real_index.py``'s UDA-1 set;
the ISIC 2017 test images of ``dermcad ingest isic2017``, rows whose ``official_split`` is test).
Non-dermoscopy: :mod:`dermcad.evaluation.non_dermoscopy` with the UI screenshots of docs/img,
dealt into the ``choice`` half (the method was picked on it) and the ``report`` half.
The serving-time cost is measured separately by bench/e2e_api.py (interleaved A/B).
Prints the figures and writes them as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def timing(runner: Any, paths: list[Path], rounds: int) -> dict[str, Any]:
    """In-process A/B of the one inference path: the package's runner with and without its
    guard, on the same preprocessed batch, alternating."""
    from dataclasses import replace

    import numpy as np

    from dermcad.inference.preprocess import preprocess
    from dermcad.inference.runner import ModelRunner

    batch = np.stack([preprocess(p, runner.manifest.spec) for p in paths])
    plain = ModelRunner(replace(runner.loaded, guard=None), runner.batch_size)
    times: dict[str, list[float]] = {"with": [], "without": []}
    for r in range(rounds):
        order = [("with", runner), ("without", plain)]
        for name, which in order if r % 2 == 0 else order[::-1]:
            start = time.perf_counter()
            which.predict(batch)
            times[name].append((time.perf_counter() - start) / len(batch) * 1000)
    with_ms, without_ms = (float(np.median(times[k])) for k in ("with", "without"))
    return {
        "rounds": rounds,
        "images": len(batch),
        "tta": runner.manifest.tta,
        "with_guard_ms": with_ms,
        "without_guard_ms": without_ms,
        "added": with_ms / without_ms - 1,
    }


def main() -> int:
    from dermcad.data.index import read_index
    from dermcad.data.splits import load_split, subset
    from dermcad.errors import UserError
    from dermcad.evaluation.guard_report import guard_figures
    from dermcad.inference.models import ModelsConfig, open_models

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--package", type=Path, required=True, help="model package folder")
    parser.add_argument("--index", type=Path, required=True, help="the model's index CSV")
    parser.add_argument("--split", type=Path, required=True, help="its split JSON")
    parser.add_argument("--splits", nargs="+", default=["val", "test"])
    parser.add_argument("--external", action="append", default=[], help="NAME=INDEX.csv")
    parser.add_argument(
        "--only-split",
        default="test",
        help="rows of --external CSVs kept when they have an official_split column",
    )
    parser.add_argument("--out", type=Path, help="JSON file to write")
    parser.add_argument(
        "--timing-rounds", type=int, default=5, help="rounds of the with/without-guard timing"
    )
    parser.add_argument(
        "--record", action="store_true", help="also store the figures in the manifest's guard"
    )
    args = parser.parse_args()
    try:
        frame = read_index(args.index)
        split = load_split(args.split, frame)
        sets = {name: [Path(p) for p in subset(frame, split, name)["path"]] for name in args.splits}
        for given in args.external:
            name, _, csv = given.partition("=")
            external = read_index(Path(csv))
            if "official_split" in external and (external["official_split"].fillna("") != "").any():
                external = external[external["official_split"] == args.only_split]
            sets[name] = [Path(p) for p in external["path"]]
        (runner,) = open_models(ModelsConfig.one_package(args.package, batch_size=32)).values()
        shots = sorted((ROOT / "docs" / "img").glob("*.png"))
        figures = guard_figures(runner, sets, shots)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{figures['model_id']}: {figures['method']}, threshold {figures['threshold']:.4g}")
    for name, row in figures["dermoscopy_refused"].items():
        print(f"  dermoscopy {name:16s} {row['n_images']:5d} images  refused {row['refused']:.1%}")
    for name, row in figures["non_dermoscopy"].items():
        auc = row["auroc_vs_val"]
        print(
            f"  non-dermoscopy {name:8s} {row['n_images']:4d} images  refused {row['refused']:.1%}"
            f"  AUROC vs val {auc:.4f}  by kind "
            + ", ".join(f"{k} {v:.0%}" for k, v in row["refused_by_kind"].items())
        )
    if args.timing_rounds:
        figures["timing"] = timing(runner, sets["val"][:32], args.timing_rounds)
        t = figures["timing"]
        print(
            f"  runner.predict (model TTA {t['tta']}) per image, median of {t['rounds']} "
            f"interleaved rounds: with guard {t['with_guard_ms']:.2f} ms, without "
            f"{t['without_guard_ms']:.2f} ms ({t['added']:+.1%})"
        )
    if args.record:
        from dermcad.export.guard_package import update_manifest

        guard = runner.manifest.guard
        assert guard is not None
        recorded = {
            "dermoscopy_refused": {
                name: round(row["refused"], 4)
                for name, row in figures["dermoscopy_refused"].items()
            },
            "non_dermoscopy_report_half": {
                key: figures["non_dermoscopy"]["report"][key]
                for key in ("n_images", "refused", "auroc_vs_val")
            },
            "command": "bench/ood_guard.py (docs/models.md)",
        }
        update_manifest(
            args.package, {"guard": guard.model_dump(mode="json") | {"figures": recorded}}
        )
        print(f"recorded the figures in {args.package.name}/model.json")
    if args.out is not None:
        args.out.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
