"""Melanoma-vs-rest AUC of packages and runtimes on the same images, through the serving runner.

    python bench/accuracy_check.py --providers CPUExecutionProvider OpenVINO OpenVINO:f32
    python bench/accuracy_check.py --registry REG --packages resnet18-256-fp32 \\
        resnet18-256-int8-openvino --run runs/RUN --split test --tta 1 8

Images: the 210 real isic-real images (default), split ``--split`` of a run directory's index
(as ``dermcad evaluate`` reads it), or every image of a dataset index (``--index``, e.g. the ISIC
2017 validation images written by ``dermcad ingest isic2017``). Each package runs on the runtime
its manifest names (an ``openvino`` int8 package on OpenVINO) and, with ``--providers``, on each
listed provider. Same preprocessing (``preprocess``, full-size decoding as evaluation does), same
runner and TTA views.
Prints the AUC per package/runtime and TTA, the change against the first with a paired bootstrap
95% interval, the largest probability difference and how many melanoma decisions differ.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data" / "isic-real"


def real_images() -> tuple[list[Path], np.ndarray]:
    with (REAL / "labels.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    paths = [REAL / "images" / f"{r['isic_id']}.jpg" for r in rows]
    return paths, np.array([r["diagnosis"] == "melanoma" for r in rows])


def split_images(run: Path, split: str) -> tuple[list[Path], np.ndarray]:
    from dermcad.export.from_run import _read_json, split_rows
    from dermcad.taxonomy import TARGET_INDEX

    rows = split_rows(_read_json(run / "run.json"), run, split)
    if not rows:
        raise SystemExit(f"{run}: no {split!r} split rows (index or split file missing?)")
    return [p for p, _ in rows], np.array([label == TARGET_INDEX for _, label in rows])


def index_images(index: Path) -> tuple[list[Path], np.ndarray]:
    from dermcad.data.index import read_index
    from dermcad.taxonomy import TARGET_CLASS

    frame = read_index(index)
    return [Path(p) for p in frame["path"]], (frame["label"] == TARGET_CLASS).to_numpy()


def paired_bootstrap(a: np.ndarray, b: np.ndarray, y: np.ndarray, n: int = 500) -> list[float]:
    """95% interval of AUC(b) - AUC(a) over resamples of the images (same resample for both)."""
    from dermcad.export.quantize import melanoma_auc

    rng = np.random.default_rng(0)
    diffs = []
    for _ in range(n):
        idx = rng.integers(0, len(y), len(y))
        da, db = melanoma_auc(a[idx], y[idx]), melanoma_auc(b[idx], y[idx])
        if da is not None and db is not None:
            diffs.append(db - da)
    return [float(np.percentile(diffs, 2.5)), float(np.percentile(diffs, 97.5))]


def predict_all(runner: Any, paths: list[Path], tta: int) -> tuple[np.ndarray, list[bool]]:
    from dermcad.inference.preprocess import preprocess

    probs: list[np.ndarray] = []
    flags: list[bool] = []
    for i in range(0, len(paths), 64):
        batch = np.stack([preprocess(p, runner.manifest.spec) for p in paths[i : i + 64]])
        for pred in runner.predict(batch, tta):
            probs.append(pred.probabilities)
            flags.append(pred.decision.target)
    return np.stack(probs), flags


def compare(results: dict[str, Any], is_mel: np.ndarray) -> dict[str, Any]:
    """Each runner's AUC and its change against the first, with a paired bootstrap interval."""
    from dermcad.export.quantize import melanoma_auc
    from dermcad.taxonomy import TARGET_INDEX as T

    base_name, (base_p, base_f) = next(iter(results.items()))
    base_auc = melanoma_auc(base_p[:, T], is_mel)
    rows = {}
    for name, (probs, flags) in results.items():
        auc = melanoma_auc(probs[:, T], is_mel)
        ci = paired_bootstrap(base_p[:, T], probs[:, T], is_mel) if name != base_name else None
        row = {
            "auc": auc,
            "auc_change": None if auc is None or base_auc is None else auc - base_auc,
            "auc_change_ci95": ci,
            "max_abs_prob_diff": float(np.abs(probs - base_p).max()),
            "flags_changed": sum(a != b for a, b in zip(flags, base_f, strict=True)),
            "flagged": sum(flags),
        }
        rows[name] = row
        change = "" if row["auc_change"] is None else f"{row['auc_change']:+.4f}"
        ci_text = f" [{ci[0]:+.4f}, {ci[1]:+.4f}]" if ci else ""
        print(
            f"  {name:48} AUC {auc:.4f} {change}{ci_text}"
            f"  max |dp| {row['max_abs_prob_diff']:.4f}"
            f"  flags changed {row['flags_changed']} of {len(flags)}"
        )
    return rows


def main() -> None:
    from dermcad.inference.runner import ModelRunner
    from dermcad.inference.runtime import RuntimeOptions
    from dermcad.registry.store import open_package

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--registry", type=Path, default=ROOT / "models")
    parser.add_argument("--model", default="ham10000-lite0-224", help="one package (--providers)")
    parser.add_argument("--packages", nargs="+", default=None, help="several packages")
    parser.add_argument("--providers", nargs="+", default=None)
    parser.add_argument("--run", type=Path, default=None, help="images: a split of this run")
    parser.add_argument("--split", default="test")
    parser.add_argument("--index", type=Path, default=None, help="images: a dataset index")
    parser.add_argument("--tta", type=int, nargs="+", default=[1])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if args.index:
        paths, is_mel = index_images(args.index)
        where = f"index {args.index.name}"
    else:
        paths, is_mel = split_images(args.run, args.split) if args.run else real_images()
        where = f"{args.run} {args.split} split" if args.run else "isic-real"
    ids = args.packages or [args.model]
    providers = args.providers or ["CPUExecutionProvider"]
    print(f"{where}: {len(paths)} images ({int(is_mel.sum())} melanoma)")
    out: dict[str, Any] = {"images": where, "n": len(paths), "melanoma": int(is_mel.sum())}
    for model_id in ids:
        package = open_package(args.registry, model_id)
        for provider in providers if package.manifest.runtime == "onnxruntime" else ["package"]:
            options = RuntimeOptions(args.threads, providers=(provider,))
            runner = ModelRunner.open(package, options, 16)
            name = f"{model_id} [{runner.loaded.session.get_providers()[0]}]"
            for tta in args.tta:
                probs, flags = predict_all(runner, paths, tta)
                out.setdefault(str(tta), {})[name] = (probs, flags)
    for tta in args.tta:
        print(f"TTA {tta}")
        out[f"tta{tta}"] = compare(out.pop(str(tta)), is_mel)
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
