"""Export a ``DermcadNet`` to ONNX: input ``image``, outputs ``logits`` and ``features``.

``features`` (the last convolutional feature map) is exported only where class-activation maps
make sense: the model's logits are a linear function of its average-pooled feature map
(``classifier_weights()`` is not ``None``).
"""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from dermcad.errors import UserError
from dermcad.export.onnx_clean import strip_source_locations_file
from dermcad.registry.manifest import FEATURES_OUTPUT, INPUT_NAME, LOGITS_OUTPUT

OPSET = 18


class _WithFeatures(nn.Module):
    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.model.forward_features(x)
        return self.model.forward_head(features), features


class _LogitsOnly(nn.Module):
    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)  # type: ignore[no-any-return]


def classifier_arrays(model: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """The CAM weights ``(W [C, F], b [C])`` as numpy, or ``None``."""
    weights = model.classifier_weights() if hasattr(model, "classifier_weights") else None
    if weights is None:
        return None
    weight, bias = weights
    return (
        weight.detach().cpu().numpy().astype(np.float32),
        bias.detach().cpu().numpy().astype(np.float32),
    )


def export_onnx(model: Any, img_size: int, path: Path, *, features: bool) -> list[str]:
    """Write ``model`` (eval mode, CPU) to ``path``; returns the output names."""
    if getattr(getattr(model, "config", None), "metadata_features", ()):
        raise UserError("models that take metadata features cannot be exported to ONNX yet")
    model = model.eval().cpu()
    wrapper: nn.Module = _WithFeatures(model) if features else _LogitsOnly(model)
    outputs = [LOGITS_OUTPUT, FEATURES_OUTPUT] if features else [LOGITS_OUTPUT]
    example = torch.zeros(2, 3, img_size, img_size)
    batch = torch.export.Dim("batch", min=1, max=4096)
    sink = io.StringIO()
    try:
        with (
            torch.no_grad(),
            warnings.catch_warnings(),
            contextlib.redirect_stdout(sink),
        ):
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                wrapper,
                (example,),
                input_names=[INPUT_NAME],
                output_names=outputs,
                dynamic_shapes=({0: batch},),
                opset_version=OPSET,
                dynamo=True,
                external_data=False,
                verbose=False,
            )
            if program is None:
                raise UserError("torch.onnx.export returned no program")
            program.save(str(path), external_data=False)
        strip_source_locations_file(path)  # no path of this machine in the file
    except UserError:
        raise
    except Exception as exc:  # the exporter raises many error types
        raise UserError(f"ONNX export failed: {type(exc).__name__}: {exc}") from exc
    return outputs


def torch_logits(model: Any, batch: np.ndarray, chunk: int = 16) -> np.ndarray:
    """Logits of the torch model for a preprocessed numpy batch (the parity reference)."""
    parts = []
    with torch.no_grad():
        for start in range(0, len(batch), chunk):
            x = torch.from_numpy(np.ascontiguousarray(batch[start : start + chunk]))
            parts.append(model(x).float().cpu().numpy())
    return np.concatenate(parts)
