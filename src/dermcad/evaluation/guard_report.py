"""Figures of a package's out-of-distribution guard: how many real dermoscopy images it refuses
per set, how many non-dermoscopy images it refuses, and the AUROC in- vs out-of-distribution.

Everything runs through the package's own runner (:func:`dermcad.inference.guard_fit.model_outputs`)
and the guard stored in the package, exactly as served.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dermcad.errors import UserError
from dermcad.evaluation.non_dermoscopy import halves, non_dermoscopy_images
from dermcad.inference.guard import auroc
from dermcad.inference.guard_fit import model_outputs
from dermcad.inference.runner import ModelRunner


def _refused(scores: np.ndarray, threshold: float) -> float:
    return float((scores > threshold).mean())


def guard_figures(
    runner: ModelRunner,
    dermoscopy: Mapping[str, Sequence[Path]],
    screenshots: Sequence[Path] = (),
    reference: str | None = "val",
) -> dict[str, Any]:
    """``dermoscopy`` maps a set's name to its image files (``reference``, the in-distribution
    set the AUROC compares with, among them; ``None``: no AUROC)."""
    guard = runner.guard
    if guard is None:
        raise UserError(f"model {runner.manifest.id!r} has no out-of-distribution guard")
    if reference is not None and reference not in dermoscopy:
        raise UserError(f"the in-distribution reference set {reference!r} is not given")
    scores = {
        name: model_outputs(runner, list(paths)).scores(guard) for name, paths in dermoscopy.items()
    }
    images = non_dermoscopy_images(screenshots)
    choice, report = halves(images)
    out: dict[str, Any] = {
        "model_id": runner.manifest.id,
        "method": guard.method,
        "threshold": guard.threshold,
        "dermoscopy_refused": {
            name: {"n_images": len(s), "refused": _refused(s, guard.threshold)}
            for name, s in scores.items()
        },
        "non_dermoscopy": {},
    }
    for name, part in (("choice", choice), ("report", report), ("all", images)):
        ood = model_outputs(runner, [n.image for n in part]).scores(guard)
        kinds = np.array([n.kind for n in part])
        row: dict[str, Any] = {
            "n_images": len(part),
            "refused": _refused(ood, guard.threshold),
            "refused_by_kind": {
                kind: _refused(ood[kinds == kind], guard.threshold) for kind in sorted(set(kinds))
            },
        }
        if reference is not None:
            row["auroc_vs_" + reference] = auroc(scores[reference], ood)
        out["non_dermoscopy"][name] = row
    return out
