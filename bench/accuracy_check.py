"""Melanoma-vs-rest AUC of one package under two runtimes, on the 210 real isic-real images.

    python bench/accuracy_check.py --providers CPUExecutionProvider OpenVINO OpenVINO:f32

Same preprocessing (``preprocess``), same runner and TTA (``--tta``, default 1); prints the AUC per
runtime, the largest probability difference and how many decisions differ.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data" / "isic-real"


def main() -> None:
    from dermcad.export.quantize import melanoma_auc
    from dermcad.preprocess import preprocess
    from dermcad.registry.runtime import RuntimeOptions
    from dermcad.registry.store import open_package
    from dermcad.serving.runner import ModelRunner

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="ham10000-lite0-224")
    parser.add_argument("--providers", nargs="+", default=["CPUExecutionProvider", "OpenVINO"])
    parser.add_argument("--tta", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    package = open_package(ROOT / "models", args.model)
    spec = package.manifest.spec
    with (REAL / "labels.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    batch = np.stack([preprocess(REAL / "images" / f"{r['isic_id']}.jpg", spec) for r in rows])
    is_mel = np.array([r["diagnosis"] == "melanoma" for r in rows])
    target = package.manifest.classes.index("melanoma")
    out: dict[str, dict[str, object]] = {}
    probs = {}
    flags: dict[str, list[bool]] = {}
    for provider in args.providers:
        runner = ModelRunner.open(package, RuntimeOptions(providers=(provider,)), 16)
        preds = runner.predict(batch, args.tta)
        probs[provider] = np.stack([p.probabilities for p in preds])
        flags[provider] = [p.decision.target for p in preds]
        out[provider] = {"auc": melanoma_auc(probs[provider][:, target], is_mel)}
    base = args.providers[0]
    print(
        f"{args.model}, {len(rows)} isic-real images ({int(is_mel.sum())} melanoma), TTA {args.tta}"
    )
    for provider in args.providers:
        diff = float(np.abs(probs[provider] - probs[base]).max())
        changed = sum(a != b for a, b in zip(flags[provider], flags[base], strict=True))
        print(
            f"{provider:22} melanoma AUC {out[provider]['auc']:.4f}  max |dp| vs {base} {diff:.4f}"
            f"  melanoma flags changed {changed}"
        )
        out[provider] = {
            "auc": out[provider]["auc"],
            "max_abs_prob_diff": diff,
            "flags_changed": changed,
        }
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
