"""Add (or refit) the out-of-distribution guard of an existing model package.

``dermcad registry guard`` and export from a run call :func:`add_guard`: the package is opened as
every server opens it (:func:`~dermcad.inference.models.open_models`), the training split's images
run through it to fit the guard, the validation split's to set the threshold; then ``guard.npz``
and ``model.json`` (the ``guard`` and ``guard_sha256`` keys) are written, each atomically.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dermcad.atomic import write_bytes_atomic, write_text_atomic
from dermcad.errors import UserError
from dermcad.inference.guard import GuardMethod
from dermcad.inference.guard_fit import fit_guard, model_outputs
from dermcad.inference.models import ModelsConfig, open_models
from dermcad.registry.manifest import (
    GUARD_NAME,
    MANIFEST_NAME,
    GuardInfo,
    Manifest,
    parse_manifest,
    read_manifest,
)
from dermcad.registry.store import sha256_file

DEFAULT_PASS_RATE = 0.99
DEFAULT_COMPONENTS = 32

Log = Callable[[str], None]


@dataclass(frozen=True)
class GuardSettings:
    index: Path
    split: Path
    fit_split: str = "train"
    threshold_split: str = "val"
    method: GuardMethod = "mahalanobis"
    pass_rate: float = DEFAULT_PASS_RATE
    components: int = DEFAULT_COMPONENTS


Rows = tuple[list[Path], np.ndarray]


def _split_rows(settings: GuardSettings) -> dict[str, Rows]:
    from dermcad.data.index import read_index
    from dermcad.data.splits import load_split, subset

    frame = read_index(settings.index)
    split = load_split(settings.split, frame)
    parts: dict[str, Rows] = {}
    for name in (settings.fit_split, settings.threshold_split):
        if name not in split.names:
            raise UserError(f"{settings.split}: no split named {name!r} (it has {split.names})")
        part = subset(frame, split, name)
        if part.empty:
            raise UserError(f"{settings.split}: the {name!r} split holds no images")
        parts[name] = ([Path(p) for p in part["path"]], part["label_idx"].to_numpy())
    return parts


def update_manifest(folder: Path, keys: dict[str, Any]) -> Manifest:
    """Set top-level ``keys`` of ``model.json`` and rewrite it atomically, leaving every other
    key and its order as they were (new keys go last), after validating the result."""
    path = folder / MANIFEST_NAME
    text = path.read_text(encoding="utf-8")
    data = json.loads(text)
    data.update(keys)
    manifest = parse_manifest(data, str(path))
    write_text_atomic(path, json.dumps(data, indent=2, ensure_ascii=text.isascii()) + "\n")
    return manifest


def add_guard(folder: Path, settings: GuardSettings, log: Log = lambda _: None) -> Manifest:
    """Fit the guard for the package in ``folder`` on the splits ``settings`` names."""
    parts = _split_rows(settings)
    source = f"{settings.index.name} / {settings.split.name}"
    return fit_into_package(
        folder,
        parts[settings.fit_split],
        parts[settings.threshold_split],
        settings,
        f"the {settings.fit_split!r} split of {source}",
        f"the {settings.threshold_split!r} split",
        log,
    )


def fit_into_package(
    folder: Path,
    fit_rows: Rows,
    threshold_rows: Rows,
    settings: GuardSettings,
    fit_name: str,
    threshold_name: str,
    log: Log = lambda _: None,
) -> Manifest:
    """Fit the guard of the package in ``folder`` and write ``guard.npz`` and ``model.json``."""
    from dermcad.registry.exposure import ExposedModel
    from dermcad.registry.store import Package

    if not 0 < settings.pass_rate <= 1:
        raise UserError(f"--pass-rate must lie in (0, 1], got {settings.pass_rate}")
    manifest = read_manifest(folder / MANIFEST_NAME)
    exposed = [ExposedModel(manifest.id, Package(folder, manifest), manifest.id, True)]
    config = ModelsConfig(registry=folder.parent, batch_size=32)
    (runner,) = open_models(config, exposed).values()
    fit_paths, fit_labels = fit_rows
    val_paths = threshold_rows[0]
    log(f"running {len(fit_paths)} + {len(val_paths)} images through {manifest.id}")
    fit_outputs = model_outputs(runner, fit_paths)
    val_outputs = model_outputs(runner, val_paths)
    guard = fit_guard(
        settings.method,
        fit_outputs,
        fit_labels,
        val_outputs,
        settings.pass_rate,
        settings.components,
    )
    passed = float(guard.in_domain(val_outputs.scores(guard)).mean())
    guard_sha = None
    if guard.arrays is not None:
        buffer = io.BytesIO()
        guard.arrays.save_to(buffer)
        write_bytes_atomic(folder / GUARD_NAME, buffer.getvalue())
        guard_sha = sha256_file(folder / GUARD_NAME)
    info = GuardInfo(
        method=settings.method,
        file=GUARD_NAME if guard.arrays is not None else None,
        components=settings.components if guard.arrays is not None else None,
        threshold=guard.threshold,
        pass_rate=settings.pass_rate,
        val_pass_rate=passed,
        fitted_on=f"{len(fit_paths)} images of {fit_name} (identity view)",
        threshold_on=f"{len(val_paths)} images of {threshold_name}: at least "
        f"{settings.pass_rate:.1%} of them pass",
        created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    )
    updated = update_manifest(
        folder, {"guard": info.model_dump(mode="json"), "guard_sha256": guard_sha}
    )
    log(
        f"guard ({settings.method}) threshold {guard.threshold:.4g}: "
        f"{passed:.1%} of the {len(val_paths)} threshold images pass"
    )
    return updated
