"""Static int8 quantization, calibrated on training images: ONNX Runtime's QDQ quantizer, or NNCF
post-training quantization for OpenVINO (which runs it with AMX/VNNI int8 kernels; ONNX Runtime
runs either file at about its float32 speed on the CPUs measured in docs/performance.md)."""

from __future__ import annotations

import contextlib
import io
import logging
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dermcad.errors import UserError
from dermcad.registry.manifest import INPUT_NAME


class _BatchReader:
    """ONNX Runtime's ``CalibrationDataReader`` protocol over preprocessed batches."""

    def __init__(self, batches: Sequence[np.ndarray]) -> None:
        self._iter: Iterator[np.ndarray] = iter(batches)

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self._iter, None)
        return None if batch is None else {INPUT_NAME: batch}


def quantize_int8(fp32_path: Path, int8_path: Path, batches: Sequence[np.ndarray]) -> None:
    """Write a per-channel, QDQ int8 model calibrated on ``batches`` (float32 ``[n, 3, S, S]``)."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if not batches:
        raise UserError("int8 quantization needs calibration images; none were found")
    sink = io.StringIO()
    ort_logger = logging.getLogger("onnxruntime")
    previous = ort_logger.level
    ort_logger.setLevel(logging.ERROR)
    try:
        with (
            tempfile.TemporaryDirectory(dir=int8_path.parent) as tmp,
            contextlib.redirect_stdout(sink),
        ):
            prepared = Path(tmp) / "prepared.onnx"
            quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=True)
            quantize_static(
                str(prepared),
                str(int8_path),
                _BatchReader(batches),
                quant_format=QuantFormat.QDQ,
                activation_type=QuantType.QInt8,
                weight_type=QuantType.QInt8,
                per_channel=True,
                calibrate_method=CalibrationMethod.Percentile,
                extra_options={"ActivationSymmetric": False, "WeightSymmetric": True},
            )
    except UserError:
        raise
    except Exception as exc:  # onnxruntime.quantization raises many types
        raise UserError(f"int8 quantization failed: {type(exc).__name__}: {exc}") from exc
    finally:
        ort_logger.setLevel(previous)


NNCF_METHOD = (
    "nncf post-training quantization (ONNX backend, preset performance: symmetric int8 weights "
    "per channel, int8 activations per tensor, ranges from activation histograms; fast bias "
    "correction), served by OpenVINO"
)
NNCF_INSTALL_HINT = "pip install 'dermcad[quantize]'"


def require_nncf() -> Any:
    """The ``nncf`` module (OpenVINO installed too), or a one-line :class:`UserError`."""
    try:
        import nncf  # type: ignore[import-untyped,import-not-found,unused-ignore]
        import openvino  # type: ignore[import-untyped,import-not-found,unused-ignore] # noqa: F401
    except ImportError as exc:
        raise UserError(
            f"int8 for OpenVINO needs nncf and openvino, not installed ({NNCF_INSTALL_HINT})"
        ) from exc
    return nncf


def _nncf_parameters(nncf: Any) -> Any:
    """Histogram ranges for activations: NNCF's default (the mean of each image's min and max)
    put a tiny test ResNet's int8 logits 6x further from float32 than ONNX Runtime's percentile
    calibration; histograms brought them level, at the same OpenVINO speed (the asymmetric
    "mixed" preset halved it)."""
    from nncf.quantization.range_estimator import (  # type: ignore[import-untyped,import-not-found,unused-ignore]
        RangeEstimatorParametersSet,
    )

    return nncf.AdvancedQuantizationParameters(
        activations_range_estimator_params=RangeEstimatorParametersSet.HISTOGRAM
    )


def quantize_nncf(fp32_path: Path, int8_path: Path, batches: Sequence[np.ndarray]) -> None:
    """Write an NNCF-quantized (QDQ) int8 ONNX model calibrated on ``batches`` (one item each,
    float32 ``[n, 3, S, S]``), for OpenVINO."""
    if not batches:
        raise UserError("int8 quantization needs calibration images; none were found")
    nncf = require_nncf()
    import onnx

    nncf_logger = logging.getLogger("nncf")
    previous = nncf_logger.level
    nncf_logger.setLevel(logging.ERROR)
    sink = io.StringIO()  # NNCF draws progress bars on stdout
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            quantized = nncf.quantize(
                onnx.load(str(fp32_path)),
                nncf.Dataset([{INPUT_NAME: batch} for batch in batches]),
                subset_size=len(batches),
                target_device=nncf.TargetDevice.CPU,
                advanced_parameters=_nncf_parameters(nncf),
            )
        onnx.save(quantized, str(int8_path))
    except Exception as exc:  # nncf raises many types
        raise UserError(f"NNCF int8 quantization failed: {type(exc).__name__}: {exc}") from exc
    finally:
        nncf_logger.setLevel(previous)


def melanoma_auc(scores: np.ndarray, is_melanoma: np.ndarray) -> float | None:
    """Rank-based (Mann-Whitney) AUC with ties averaged; ``None`` when only one class is present."""
    scores = np.asarray(scores, dtype=np.float64)
    positives = np.asarray(is_melanoma, dtype=bool)
    n_pos, n_neg = int(positives.sum()), int((~positives).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), dtype=np.float64)
    sorted_scores = scores[order]
    start = 0
    while start < len(scores):
        end = start
        while end + 1 < len(scores) and sorted_scores[end + 1] == sorted_scores[start]:
            end += 1
        ranks[order[start : end + 1]] = (start + end) / 2.0 + 1.0
        start = end + 1
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))
