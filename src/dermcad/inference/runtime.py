"""Load a model package into an ONNX Runtime (or OpenVINO) session, after checking its sha256.

The manifest's ``runtime`` decides which: ``onnxruntime`` packages run on the providers of
``RuntimeOptions`` (``DERMCAD_ONNX_PROVIDERS``, ONNX Runtime by default, OpenVINO opt-in);
``openvino`` packages (NNCF-quantized int8) always run on OpenVINO, whatever the providers say.
One place decides the ONNX Runtime settings: intra-op threads (a fixed number, so several workers
do not oversubscribe the CPU), no inter-op parallelism, and no spinning threads (an idle API must
not burn a core polling for work).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dermcad.errors import UserError
from dermcad.inference.guard import Guard, GuardArrays
from dermcad.inference.openvino_session import (
    PACKAGE_PROVIDER,
    is_openvino,
    open_openvino,
    require_openvino,
)
from dermcad.registry.manifest import CLASSIFIER_NAME, GUARD_NAME, Runtime
from dermcad.registry.store import Package, sha256_file


@dataclass(frozen=True)
class RuntimeOptions:
    """ONNX Runtime settings shared by every session of a process."""

    intra_op_threads: int = 1
    allow_spinning: bool = False
    providers: tuple[str, ...] = ("CPUExecutionProvider",)


def check_integrity(package: Package) -> None:
    """Raise :class:`UserError` unless the files' sha256 match the manifest and the runtime the
    manifest names is installed (so that ``dermcad serve`` refuses such a model in one line)."""
    check_files(package)
    if package.manifest.runtime == "openvino":
        require_openvino(f"model {package.id!r} (runtime: openvino)")


def check_files(package: Package) -> None:
    """Raise :class:`UserError` unless the files' sha256 match the manifest."""
    actual = sha256_file(package.onnx_path)
    if actual != package.manifest.sha256:
        raise UserError(
            f"{package.onnx_path}: sha256 {actual} does not match the manifest "
            f"({package.manifest.sha256}); the file was changed or is damaged"
        )
    sidecars = (
        (CLASSIFIER_NAME, package.manifest.classifier_sha256),
        (GUARD_NAME, package.manifest.guard_sha256),
    )
    for name, expected in sidecars:
        if expected is None:
            continue
        path = package.path / name
        if not path.is_file():
            raise UserError(f"{path}: missing (the manifest names its sha256)")
        if sha256_file(path) != expected:
            raise UserError(f"{path}: sha256 does not match the manifest")


def make_session(
    onnx_path: Path, options: RuntimeOptions = RuntimeOptions(), runtime: Runtime = "onnxruntime"
) -> Any:
    """An ``onnxruntime.InferenceSession``, or an OpenVINO session (see
    :mod:`dermcad.inference.openvino_session`) when ``runtime`` is ``openvino`` or the first
    provider is ``OpenVINO``."""
    threads = max(1, options.intra_op_threads)
    if runtime == "openvino":
        return open_openvino(onnx_path, PACKAGE_PROVIDER, threads)
    if options.providers and is_openvino(options.providers[0]):
        return open_openvino(onnx_path, options.providers[0], threads)
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = max(1, options.intra_op_threads)
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    spin = "1" if options.allow_spinning else "0"
    so.add_session_config_entry("session.intra_op.allow_spinning", spin)
    so.add_session_config_entry("session.inter_op.allow_spinning", spin)
    available = set(ort.get_available_providers())
    providers = [p for p in options.providers if p in available] or ["CPUExecutionProvider"]
    try:
        return ort.InferenceSession(str(onnx_path), sess_options=so, providers=providers)
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise UserError(f"{onnx_path}: ONNX Runtime cannot load the model: {exc}") from exc


def load_classifier(package: Package) -> tuple[np.ndarray, np.ndarray] | None:
    """``(W [C, F], b [C])`` for class-activation maps, or ``None`` if the package has none."""
    if not package.manifest.has_heatmaps:
        return None
    with np.load(package.path / CLASSIFIER_NAME, allow_pickle=False) as data:
        weight = np.asarray(data["weight"], dtype=np.float32)
        bias = np.asarray(data["bias"], dtype=np.float32)
    if weight.shape[0] != package.manifest.out_dim or bias.shape != (package.manifest.out_dim,):
        raise UserError(f"{package.path / CLASSIFIER_NAME}: shapes do not match out_dim")
    return weight, bias


def load_guard(package: Package) -> Guard | None:
    """The out-of-distribution guard, or ``None`` for a package without one (older packages)."""
    info = package.manifest.guard
    if info is None:
        return None
    arrays = GuardArrays.load(package.path / GUARD_NAME) if info.file is not None else None
    return Guard(info.method, info.threshold, arrays)


@dataclass(frozen=True)
class LoadedPackage:
    """A package whose integrity was checked, with its session (and CAM weights and guard, if
    any)."""

    package: Package
    session: Any  # onnxruntime.InferenceSession (kept Any: onnxruntime has no type hints)
    classifier: tuple[np.ndarray, np.ndarray] | None
    guard: Guard | None = None


def load_package(package: Package, options: RuntimeOptions = RuntimeOptions()) -> LoadedPackage:
    """Check the sha256, then open the session. Never runs an unverified file."""
    check_integrity(package)
    session = make_session(package.onnx_path, options, package.manifest.runtime)
    names = {output.name for output in session.get_outputs()}
    missing = set(package.manifest.outputs) - names
    if missing:
        raise UserError(f"{package.onnx_path}: outputs {sorted(missing)} named in the manifest")
    wanted = package.manifest.model_input.name
    inputs = [graph_input.name for graph_input in session.get_inputs()]
    if inputs != [wanted]:
        raise UserError(
            f"{package.onnx_path}: the graph's inputs are {inputs}, the manifest names {wanted!r}"
        )
    return LoadedPackage(package, session, load_classifier(package), load_guard(package))
