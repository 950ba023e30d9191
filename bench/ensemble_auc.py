"""Melanoma-vs-rest AUC of the mean of several models' probabilities (a probability ensemble).

    python bench/ensemble_auc.py docs/models/ham10000-lite0/predictions_test.csv \
        docs/models/experiments/call1-v3/predictions_test.csv

Reads the ``predictions_<split>.csv`` files that ``dermcad evaluate`` writes (TTA and calibration
as each run was evaluated), checks that they hold the same images with the same labels, and prints
each file's AUC and the ensemble's, with 95% bootstrap intervals (dermcad's own metrics).
``--subsets`` prints the mean of every subset of two or more files instead (to choose members on
the validation split). This averages probabilities; ``dermcad ensemble`` builds a real ensemble
(the mean of logits) that evaluate, report and export treat as one model.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np
import pandas as pd

from dermcad.evaluation.metrics import bootstrap_ci, roc_auc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("predictions", type=Path, nargs="+", help="predictions_<split>.csv files")
    parser.add_argument("--subsets", action="store_true", help="every subset of 2+ files")
    parser.add_argument("--digits", type=int, default=4, help="decimals printed (default: 4)")
    args = parser.parse_args()
    frames = [pd.read_csv(path).set_index("image_id").sort_index() for path in args.predictions]
    first = frames[0]
    for path, frame in zip(args.predictions[1:], frames[1:], strict=True):
        if not frame.index.equals(first.index) or not (frame["label"] == first["label"]).all():
            raise SystemExit(f"{path}: not the same images and labels as {args.predictions[0]}")
    y = (first["label"] == "melanoma").to_numpy().astype(int)
    rows = [
        (str(p), f["p_melanoma"].to_numpy()) for p, f in zip(args.predictions, frames, strict=True)
    ]
    if args.subsets:
        rows = [
            (" + ".join(name for name, _ in subset), np.mean([s for _, s in subset], axis=0))
            for size in range(2, len(rows) + 1)
            for subset in itertools.combinations(rows, size)
        ]
    else:
        rows.append(("mean of the above", np.mean([s for _, s in rows], axis=0)))
    print(f"{len(y)} images, {y.sum()} melanoma")
    for name, scores in rows:
        low, high = bootstrap_ci(roc_auc, y, scores)
        d = args.digits
        print(f"{roc_auc(y, scores):.{d}f} [{low:.{d}f}, {high:.{d}f}]  {name}")


if __name__ == "__main__":
    main()
