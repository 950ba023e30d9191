"""Add (or refit) the out-of-distribution guard of an existing model package.

``dermcad registry guard`` and export from a run call :func:`add_guard`: the package is opened as
every server opens it (:func:`~dermcad.inference.models.open_models`), the training split's images
run through it to fit the guard, the validation split's to set the threshold; then ``guard.npz``
and ``model.json`` (the ``guard`` and ``guard_sha256`` keys) are written, each atomically.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dermcad.atomic import write_bytes_atomic, write_text_atomic
from dermcad.errors import UserError
from dermcad.inference.guard import GuardMethod
from dermcad.inference.guard_fit import fit_guard, model_outputs
from dermcad.inference.models import ModelsConfig, open_models
from dermcad.registry.manifest import GUARD_NAME, MANIFEST_NAME, GuardInfo, Manifest
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


def _split_paths(settings: GuardSettings) -> dict[str, tuple[list[Path], np.ndarray]]:
    from dermcad.data.index import read_index
    from dermcad.data.splits import load_split, subset

    frame = read_index(settings.index)
    split = load_split(settings.split, frame)
    parts: dict[str, tuple[list[Path], np.ndarray]] = {}
    for name in (settings.fit_split, settings.threshold_split):
        if name not in split.names:
            raise UserError(f"{settings.split}: no split named {name!r} (it has {split.names})")
        part = subset(frame, split, name)
        if part.empty:
            raise UserError(f"{settings.split}: the {name!r} split holds no images")
        parts[name] = ([Path(p) for p in part["path"]], part["label_idx"].to_numpy())
    return parts


def add_guard(folder: Path, settings: GuardSettings, log: Log = lambda _: None) -> Manifest:
    """Fit the guard for the package in ``folder`` and write it there; the new manifest."""
    if not 0 < settings.pass_rate <= 1:
        raise UserError(f"--pass-rate must lie in (0, 1], got {settings.pass_rate}")
    parts = _split_paths(settings)
    (runner,) = open_models(ModelsConfig.one_package(folder, batch_size=32)).values()
    manifest = runner.manifest
    fit_paths, fit_labels = parts[settings.fit_split]
    val_paths, _ = parts[settings.threshold_split]
    log(f"running {len(fit_paths)} {settings.fit_split} and {len(val_paths)} val images")
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
        fitted_on=f"{len(fit_paths)} images of the {settings.fit_split!r} split of "
        f"{settings.index.name} / {settings.split.name} (identity view)",
        threshold_on=f"{len(val_paths)} images of the {settings.threshold_split!r} split: "
        f"{settings.pass_rate:.1%} of them pass",
        created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    )
    updated = Manifest.model_validate(
        manifest.model_dump() | {"guard": info.model_dump(), "guard_sha256": guard_sha}
    )
    write_text_atomic(folder / MANIFEST_NAME, updated.to_json())
    log(
        f"guard ({settings.method}) threshold {guard.threshold:.4g}: "
        f"{passed:.1%} of the {settings.threshold_split} images pass"
    )
    return updated
