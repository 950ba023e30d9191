"""``dermcad export RUN``: a run directory -> a published model package."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from dermcad.errors import UserError
from dermcad.export.package import ExportInputs, ExportReport, write_package
from dermcad.export.portable import portable
from dermcad.inference.preprocess import PreprocessSpec
from dermcad.registry.manifest import Runtime
from dermcad.registry.store import publish

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass(frozen=True)
class ExportOptions:
    int8: bool = False
    int8_runtime: Runtime = "onnxruntime"  # the quantizer: ONNX Runtime QDQ, or NNCF for OpenVINO
    replace: bool = False
    images: Path | None = None  # parity (and calibration) images when the run's index is gone
    parity_images: int = 16
    calibration_images: int = 64
    eval_images: int = 5000
    display_name: str = ""
    license: str = ""
    card: str = ""
    guard: bool = False  # fit the out-of-distribution guard on the run's train/val splits


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: cannot read ({exc})") from exc
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a JSON object")
    return data


def split_rows(info: dict[str, Any], run_dir: Path, name: str) -> list[tuple[Path, int]]:
    """Rows of split ``name`` of the run (:mod:`dermcad.data.run_split`): ``(image path, label
    index)``; [] when the run's index or split file is not there or has no such part."""
    from dermcad.data.run_split import run_data_files, run_split_frames

    files = run_data_files(info, run_dir)
    if files is None or not all(path.is_file() for path in files):
        return []
    rows = run_split_frames(info, run_dir).get(name)
    if rows is None:
        return []
    return [(Path(p), int(i)) for p, i in zip(rows["path"], rows["label_idx"], strict=True)]


def _folder_images(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise UserError(f"{folder}: not a folder of images")
    found = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not found:
        raise UserError(f"{folder}: no JPEG or PNG images")
    return found


def _spread(items: list[Any], limit: int) -> list[Any]:
    """At most ``limit`` items spread evenly over the list (deterministic)."""
    if len(items) <= limit:
        return items
    step = len(items) / limit
    return [items[int(i * step)] for i in range(limit)]


def _metrics(run_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    path = run_dir / "eval" / "metrics.json"
    if not path.is_file():
        return {}, {}
    data = _read_json(path)
    calibration = data.get("calibration") or {}
    splits = {k: v for k, v in data.items() if k != "calibration" and isinstance(v, dict)}
    return splits, calibration if isinstance(calibration, dict) else {}


def inputs_from_run(run_dir: Path, options: ExportOptions) -> ExportInputs:
    from dermcad.models import load_run

    model, info = load_run(run_dir)
    spec = PreprocessSpec.from_dict(info.get("preprocess") or {})
    recipe_path = run_dir / "recipe.yaml"
    recipe = (
        yaml.safe_load(recipe_path.read_text(encoding="utf-8")) if recipe_path.is_file() else {}
    )
    metrics, calibration = _metrics(run_dir)
    val = split_rows(info, run_dir, "val") or split_rows(info, run_dir, "test")
    train = split_rows(info, run_dir, "train")
    if options.images is not None:
        extra = _folder_images(options.images)
        parity, calib = extra, extra
    elif val or train:
        parity = [p for p, _ in (val or train)]
        calib = [p for p, _ in (train or val)]
    else:
        raise UserError(
            f"{run_dir}: the run's index or split file cannot be found; pass --images FOLDER"
        )
    config = info.get("model") or {}
    net_type = str(config.get("net_type", "unknown"))
    if isinstance(info.get("ensemble"), dict):
        members = info["ensemble"]["members"]
        net_type = f"ensemble of {len(members)}: {' + '.join(info['ensemble']['net_types'])}"
    eval_tta = next((int(m.get("tta", 1)) for m in metrics.values() if "tta" in m), 1)
    return ExportInputs(
        model=model,
        spec=spec,
        net_type=net_type,
        classes=list(config.get("classes") or []),
        origin=f"dermcad train, run {info.get('name') or run_dir.resolve().name}",
        parity_images=_spread(parity, options.parity_images),
        display_name=options.display_name,
        tta=eval_tta if eval_tta in (1, 4, 8) else 1,
        calibration={k: v for k, v in calibration.items() if k in _CALIBRATION_KEYS},
        metrics=metrics,
        recipe=portable(recipe if isinstance(recipe, dict) else {}, str(run_dir.resolve())),
        dataset=portable(
            {"index": info.get("index"), "split": info.get("split"), **(info.get("dataset") or {})},
            str(run_dir.resolve()),
        ),
        versions={k: str(v) for k, v in (info.get("versions") or {}).items()},
        calib_images=_spread(calib, options.calibration_images),
        eval_images=_spread(val, options.eval_images),
        eval_split="val" if split_rows(info, run_dir, "val") else ("test" if val else None),
        license=options.license,
        card=options.card,
    )


def _fit_guard(run_dir: Path, folder: Path) -> None:
    """The out-of-distribution guard, on the run's training split (threshold on validation);
    skipped for a run whose splits are gone or a graph without ``features``."""
    import numpy as np

    from dermcad.export.guard_package import GuardSettings, fit_into_package
    from dermcad.models import load_run
    from dermcad.registry.manifest import FEATURES_OUTPUT, MANIFEST_NAME, read_manifest

    info = load_run(run_dir)[1]
    train = split_rows(info, run_dir, "train")
    val = split_rows(info, run_dir, "val")
    manifest = read_manifest(folder / MANIFEST_NAME)
    if not train or not val or FEATURES_OUTPUT not in manifest.outputs:
        return

    def rows(items: list[tuple[Path, int]]) -> tuple[list[Path], np.ndarray]:
        return [p for p, _ in items], np.array([label for _, label in items])

    name = Path(str((info.get("index") or {}).get("path", "the index"))).name
    settings = GuardSettings(index=Path(name), split=Path(name))
    fit_into_package(
        folder,
        rows(train),
        rows(val),
        settings,
        f"the run's train split of {name}",
        "its val split",
    )


_CALIBRATION_KEYS = ("temperature", "threshold", "operating_point", "ece_before", "ece_after")


def export_run(
    run_dir: Path, registry: Path, model_id: str, options: ExportOptions
) -> ExportReport:
    """Export, check and publish (atomically) one run as ``<registry>/<model_id>``."""
    from dermcad.registry.store import check_model_id

    check_model_id(model_id)
    runtime: Runtime = options.int8_runtime if options.int8 else "onnxruntime"
    if runtime == "openvino":  # fail before the (slow) export when nncf or openvino is missing
        from dermcad.export.quantize import require_nncf

        require_nncf()
    if (registry / model_id).exists() and not options.replace:
        raise UserError(f"model {model_id!r} already exists in {registry}; pass --replace")
    inputs = inputs_from_run(run_dir, options)
    reports: list[ExportReport] = []

    def write(folder: Path) -> None:
        reports.append(write_package(inputs, model_id, folder, int8=options.int8, runtime=runtime))
        if options.guard:
            _fit_guard(run_dir, folder)

    publish(registry, model_id, write, replace=options.replace)
    return reports[0]
