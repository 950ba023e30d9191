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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


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
    args = parser.parse_args()
    try:
        frame = read_index(args.index)
        split = load_split(args.split, frame)
        sets = {name: [Path(p) for p in subset(frame, split, name)["path"]] for name in args.splits}
        for given in args.external:
            name, _, csv = given.partition("=")
            external = read_index(Path(csv))
            if "official_split" in external and external["official_split"].notna().any():
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
    if args.out is not None:
        args.out.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
