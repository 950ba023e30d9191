"""Write a model package (docs/architecture.md) from a torch model, checking ONNX parity."""

from __future__ import annotations

import datetime as dt
import platform
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dermcad import INTENDED_USE, __version__
from dermcad.errors import UserError
from dermcad.inference.preprocess import PreprocessSpec, preprocess
from dermcad.inference.runtime import make_session
from dermcad.inference.tta import predict_proba
from dermcad.inference.verify import max_prob_diff, parity_diff, parity_inputs
from dermcad.registry.manifest import (
    CLASSIFIER_NAME,
    INPUT_NAME,
    LOGITS_OUTPUT,
    MANIFEST_NAME,
    ONNX_NAME,
    InputInfo,
    Manifest,
    Parity,
    PreprocessInfo,
    Quantization,
    Runtime,
    parse_manifest,
)
from dermcad.registry.store import Package, sha256_file
from dermcad.taxonomy import TARGET_INDEX

PARITY_TOLERANCE = 1e-4
PARITY_SEED = 20231
PARITY_SEEDED_INPUTS = 2


@dataclass
class ExportInputs:
    """A trained model and everything its manifest says about it."""

    model: Any
    spec: PreprocessSpec
    net_type: str
    classes: list[str]
    origin: str
    parity_images: list[Path]
    display_name: str = ""
    tta: int = 1
    calibration: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    recipe: dict[str, Any] = field(default_factory=dict)
    dataset: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    calib_images: list[Path] = field(default_factory=list)
    eval_images: list[tuple[Path, int]] = field(default_factory=list)
    eval_split: str | None = None
    license: str = ""
    card: str = ""


@dataclass(frozen=True)
class ExportReport:
    manifest: Manifest
    parity_max_diff: float
    parity_images: int


def load_batch(paths: Sequence[Path], spec: PreprocessSpec) -> np.ndarray:
    """Preprocess image files into one float32 batch through the one preprocessing function."""
    if not paths:
        raise UserError("no images to check the export with")
    return np.stack([preprocess(path, spec) for path in paths])


def _session_logits(onnx_path: Path, runtime: Runtime = "onnxruntime") -> Any:
    session = make_session(onnx_path, runtime=runtime)

    def logits(batch: np.ndarray) -> np.ndarray:
        parts = [
            session.run([LOGITS_OUTPUT], {INPUT_NAME: batch[i : i + 16]})[0]
            for i in range(0, len(batch), 16)
        ]
        return np.concatenate(parts).astype(np.float32)

    return logits


def check_parity(inputs: ExportInputs, onnx_path: Path) -> float:
    """Largest probability difference, torch vs ONNX Runtime, on real images; fails above 1e-4."""
    from dermcad.export.onnx_export import torch_logits

    batch = load_batch(inputs.parity_images, inputs.spec)
    temperature = float(inputs.calibration.get("temperature", 1.0))

    def torch_fn(b: np.ndarray) -> np.ndarray:
        return torch_logits(inputs.model, b)

    reference = predict_proba(torch_fn, batch, tta=inputs.tta, temperature=temperature)
    exported = predict_proba(
        _session_logits(onnx_path), batch, tta=inputs.tta, temperature=temperature
    )
    diff = float(np.abs(reference - exported).max())
    if not diff < PARITY_TOLERANCE:
        raise UserError(
            f"ONNX parity check failed: probabilities differ by up to {diff:.2e} "
            f"(limit {PARITY_TOLERANCE:.0e}) on {len(batch)} images"
        )
    return diff


def _melanoma_scores(logits_fn: Any, paths: Sequence[Path], spec: PreprocessSpec) -> np.ndarray:
    scores = [
        predict_proba(logits_fn, load_batch(paths[i : i + 32], spec))[:, TARGET_INDEX]
        for i in range(0, len(paths), 32)
    ]
    return np.concatenate(scores)


ORT_METHOD = "onnxruntime static QDQ, int8 per-channel weights, percentile (99.999) calibration"


def _quantize(inputs: ExportInputs, fp32: Path, int8: Path, runtime: Runtime) -> Quantization:
    """Quantize ``fp32`` into ``int8`` for ``runtime``; the AUC check runs int8 on that runtime."""
    from dermcad.export.onnx_clean import strip_source_locations_file
    from dermcad.export.quantize import NNCF_METHOD, melanoma_auc, quantize_int8, quantize_nncf

    paths = inputs.calib_images
    # One image per calibration batch: ONNX Runtime's percentile calibrator stacks batch outputs.
    batches = [load_batch([path], inputs.spec) for path in paths]
    (quantize_nncf if runtime == "openvino" else quantize_int8)(fp32, int8, batches)
    strip_source_locations_file(int8)  # what a quantizer may have carried over
    result = Quantization(
        method=NNCF_METHOD if runtime == "openvino" else ORT_METHOD,
        calibration_images=len(paths),
        eval_split=inputs.eval_split,
        eval_images=len(inputs.eval_images),
    )
    if inputs.eval_images:
        eval_paths = [p for p, _ in inputs.eval_images]
        positives = np.array([label == TARGET_INDEX for _, label in inputs.eval_images])
        before = melanoma_auc(
            _melanoma_scores(_session_logits(fp32), eval_paths, inputs.spec), positives
        )
        after = melanoma_auc(
            _melanoma_scores(_session_logits(int8, runtime), eval_paths, inputs.spec), positives
        )
        result.fp32_melanoma_auc, result.int8_melanoma_auc = before, after
        if before is not None and after is not None:
            result.auc_change = after - before
    return result


def write_package(
    inputs: ExportInputs,
    model_id: str,
    folder: Path,
    *,
    int8: bool,
    runtime: Runtime = "onnxruntime",
) -> ExportReport:
    """Fill ``folder`` with ``model.onnx``, ``model.json`` (and ``classifier.npz`` for CAMs).

    With ``int8``, ``runtime`` picks the quantizer: ONNX Runtime's static QDQ (``onnxruntime``)
    or NNCF post-training quantization, served by OpenVINO (``openvino``, in the manifest)."""
    if runtime != "onnxruntime" and not int8:
        raise UserError(f"runtime {runtime!r} is for int8 packages only")
    from dermcad.export.onnx_export import classifier_arrays, export_onnx, torch_logits

    classifier = classifier_arrays(inputs.model)
    fp32 = folder / ("fp32.onnx" if int8 else ONNX_NAME)
    outputs = export_onnx(inputs.model, inputs.spec.img_size, fp32, features=classifier is not None)
    diff = check_parity(inputs, fp32)
    seeded = parity_inputs(PARITY_SEED, PARITY_SEEDED_INPUTS, inputs.spec.img_size)
    reference = torch_logits(inputs.model, seeded)
    seeded_diff = max_prob_diff(reference, _session_logits(fp32)(seeded))
    if not seeded_diff < PARITY_TOLERANCE:
        raise UserError(f"ONNX parity check failed on seeded inputs: {seeded_diff:.2e}")
    quantization = None
    if int8:
        quantization = _quantize(inputs, fp32, folder / ONNX_NAME, runtime)
        fp32.unlink()
        reference = _session_logits(folder / ONNX_NAME, runtime)(seeded)
    classifier_sha = None
    if classifier is not None:
        with (folder / CLASSIFIER_NAME).open("wb") as handle:
            np.savez(handle, weight=classifier[0], bias=classifier[1])
        classifier_sha = sha256_file(folder / CLASSIFIER_NAME)
    parity = Parity(
        seed=PARITY_SEED,
        n=PARITY_SEEDED_INPUTS,
        reference=runtime if int8 else "torch",
        logits=reference.astype(float).tolist(),
        max_prob_diff=max(diff, seeded_diff),
        tolerance=PARITY_TOLERANCE,
        images_checked=len(inputs.parity_images),
    )
    data = _manifest_data(inputs, model_id, folder / ONNX_NAME, outputs, int8)
    data |= {
        "runtime": runtime,
        "versions": {**data["versions"], **_runtime_versions(runtime)},
        "classifier_sha256": classifier_sha,
        "quantization": quantization.model_dump() if quantization else None,
        "parity": parity.model_dump(),
    }
    manifest = parse_manifest(data, "exported manifest")
    (folder / MANIFEST_NAME).write_text(manifest.to_json(), encoding="utf-8")
    check_opened(folder, manifest)
    return ExportReport(manifest, diff, len(inputs.parity_images))


def check_opened(folder: Path, manifest: Manifest) -> None:
    """Open the written package as every server does (:func:`open_models`: sha256, runtime,
    session) and check that it reproduces the parity reference its manifest records."""
    from dermcad.inference.models import ModelsConfig, open_models
    from dermcad.registry.exposure import ExposedModel

    exposed = [ExposedModel(manifest.id, Package(folder, manifest), manifest.id, True)]
    (runner,) = open_models(ModelsConfig(registry=folder.parent), exposed).values()
    diff = parity_diff(runner)
    tolerance = manifest.parity.tolerance if manifest.parity else PARITY_TOLERANCE
    if not diff < tolerance:
        raise UserError(f"the written package does not reproduce its parity reference: {diff:.2e}")


def _manifest_data(
    inputs: ExportInputs, model_id: str, onnx_path: Path, outputs: list[str], int8: bool
) -> dict[str, Any]:
    return {
        "id": model_id,
        "display_name": inputs.display_name or model_id,
        "origin": inputs.origin,
        "net_type": inputs.net_type,
        "img_size": inputs.spec.img_size,
        "out_dim": len(inputs.classes),
        "classes": list(inputs.classes),
        "preprocess": PreprocessInfo.from_spec(inputs.spec).model_dump(),
        "input": InputInfo.for_spec(inputs.spec).model_dump(mode="json"),
        "tta": inputs.tta,
        "calibration": inputs.calibration,
        "metrics": inputs.metrics,
        "recipe": inputs.recipe,
        "dataset": inputs.dataset,
        "versions": {**inputs.versions, **_versions()},
        "sha256": sha256_file(onnx_path),
        "outputs": outputs,
        "precision": "int8" if int8 else "fp32",
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "intended_use": INTENDED_USE,
        "license": inputs.license,
        "card": inputs.card,
    }


def _runtime_versions(runtime: Runtime) -> dict[str, str]:
    if runtime != "openvino":
        return {}
    import nncf  # type: ignore[import-untyped,import-not-found,unused-ignore]
    import openvino  # type: ignore[import-untyped,import-not-found,unused-ignore]

    return {"nncf": str(nncf.__version__), "openvino": str(openvino.__version__)}


def _versions() -> dict[str, str]:
    import onnx
    import onnxruntime
    import torch

    return {
        "dermcad": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": onnxruntime.__version__,
    }
