"""An opt-in OpenVINO runtime behind the same session interface the runner uses.

Chosen with the provider name ``OpenVINO`` (OpenVINO's own inference precision: bf16 on CPUs with
AMX or AVX-512 BF16, else f32) or ``OpenVINO:f32`` (always float32) as the first entry of
``RuntimeOptions.providers`` (``DERMCAD_ONNX_PROVIDERS``). It reads the same, already
sha256-checked ``model.onnx``. On an AMX CPU bench/model_throughput.py measured OpenVINO bf16 at
about 2x (Lite0) to 6x (ResNet18) ONNX Runtime float32; see docs/performance.md. bf16 changes the
logits slightly: check a model's metrics with it before serving it so.

Packages whose manifest says ``runtime: openvino`` (NNCF-quantized int8, ``dermcad export --int8
--quantizer openvino``) are always opened here, in ``OpenVINO:f32`` (:data:`PACKAGE_PROVIDER`):
their convolutions run in int8 whatever the hint, and f32 keeps any other operation exact on
every CPU, so ``registry verify`` gives the same logits on another machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dermcad.errors import UserError

PROVIDER = "OpenVINO"
PACKAGE_PROVIDER = "OpenVINO:f32"
INSTALL_HINT = "pip install 'dermcad[openvino]'"


@dataclass(frozen=True)
class OutputInfo:
    name: str


class OpenVinoSession:
    """``run(names, feeds)``, ``get_inputs()`` and ``get_outputs()`` as
    ``onnxruntime.InferenceSession`` has them. Thread-safe: each call uses its own infer request."""

    def __init__(self, compiled: Any, provider: str = PROVIDER) -> None:
        self._compiled = compiled
        self._provider = provider
        self._outputs = {name for out in compiled.outputs for name in out.get_names()}
        self._inputs = [port.get_any_name() for port in compiled.inputs]

    def get_inputs(self) -> list[OutputInfo]:
        return [OutputInfo(name) for name in self._inputs]

    def get_outputs(self) -> list[OutputInfo]:
        return [OutputInfo(name) for name in sorted(self._outputs)]

    def get_providers(self) -> list[str]:
        """What the model runs on, as ``InferenceSession.get_providers()`` says it (for logs)."""
        return [self._provider]

    def run(self, names: list[str], feeds: dict[str, Any]) -> list[Any]:
        results = self._compiled.create_infer_request().infer(feeds)
        return [results[self._compiled.output(name)] for name in names]


def is_openvino(provider: str) -> bool:
    return provider == PROVIDER or provider.startswith(PROVIDER + ":")


def require_openvino(needed_by: str) -> Any:
    """The ``openvino`` module, or a one-line :class:`UserError` saying how to install it."""
    try:
        import openvino as ov  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError as exc:
        raise UserError(
            f"{needed_by} needs openvino, which is not installed ({INSTALL_HINT})"
        ) from exc
    return ov


def open_openvino(onnx_path: Path, provider: str, threads: int) -> OpenVinoSession:
    """Compile ``onnx_path`` for the CPU with ``threads`` inference threads."""
    ov = require_openvino(f"provider {provider!r}")
    config: dict[str, Any] = {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY"}
    precision = provider.partition(":")[2]
    if precision:
        if precision not in ("f32", "bf16"):
            raise UserError(f"provider {provider!r}: precision must be f32 or bf16")
        config["INFERENCE_PRECISION_HINT"] = precision
    try:
        core = ov.Core()
        compiled = core.compile_model(core.read_model(str(onnx_path)), "CPU", config)
        return OpenVinoSession(compiled, provider)
    except Exception as exc:  # openvino raises RuntimeError for most problems
        raise UserError(f"{onnx_path}: OpenVINO cannot load the model: {exc}") from exc
