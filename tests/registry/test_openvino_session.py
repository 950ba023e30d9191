"""The opt-in OpenVINO session: same outputs as ONNX Runtime in float32, clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dermcad.errors import UserError
from dermcad.inference.runner import ModelRunner
from dermcad.inference.runtime import RuntimeOptions, load_package
from dermcad.registry.store import open_package

pytest.importorskip("openvino")

REGISTRY = Path(__file__).resolve().parents[2] / "models"
MODEL = "ham10000-lite0-224"


def _batch() -> np.ndarray:
    rng = np.random.default_rng(7)
    return rng.standard_normal((3, 3, 224, 224)).astype(np.float32)


@pytest.mark.slow
def test_openvino_f32_matches_onnxruntime() -> None:
    package = open_package(REGISTRY, MODEL)
    ort_run = ModelRunner(load_package(package))
    ov_run = ModelRunner(load_package(package, RuntimeOptions(providers=("OpenVINO:f32",))))
    batch = _batch()
    ort_logits, ort_feats = ort_run.run(batch, features=True)
    ov_logits, ov_feats = ov_run.run(batch, features=True)
    assert ov_logits.shape == ort_logits.shape == (3, package.manifest.out_dim)
    np.testing.assert_allclose(ov_logits, ort_logits, atol=2e-3, rtol=1e-3)
    np.testing.assert_allclose(ov_feats, ort_feats, atol=2e-3, rtol=1e-3)
    # the whole prediction path (TTA, calibration, CAMs) runs on it
    predictions = ov_run.predict(batch[:1], tta=4)
    assert predictions[0].cam is not None
    assert abs(float(predictions[0].probabilities.sum()) - 1.0) < 1e-5


def test_unknown_precision_is_a_user_error() -> None:
    package = open_package(REGISTRY, MODEL)
    with pytest.raises(UserError, match="precision must be f32 or bf16"):
        load_package(package, RuntimeOptions(providers=("OpenVINO:int4",)))
