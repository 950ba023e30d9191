"""The ONNX Runtime runner, the one inference path, and the shape of one result."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dermcad.inference.results import csv_columns, flatten_item, result_item, spreadsheet_safe
from dermcad.inference.runner import ModelRunner
from dermcad.inference.tta import predict_proba
from dermcad.registry.store import open_package
from dermcad.taxonomy import CLASSES, TARGET_INDEX
from serving.tiny import Tiny, torch_probabilities


def _runner(tiny: Tiny, batch_size: int = 16) -> ModelRunner:
    return ModelRunner.open(open_package(tiny.registry, tiny.model_id), batch_size=batch_size)


def _batch(tiny: Tiny, n: int) -> np.ndarray:
    from dermcad.export.package import load_batch

    runner = _runner(tiny)
    return load_batch(tiny.images[:n], runner.manifest.spec)


def test_chunked_runs_equal_one_run(tiny: Tiny) -> None:
    batch = _batch(tiny, 7)
    whole, feats = _runner(tiny, 16).run(batch, features=True)
    chunked, feats_chunked = _runner(tiny, 3).run(batch, features=True)
    np.testing.assert_allclose(whole, chunked, atol=1e-5)
    assert feats.shape[0] == 7 and feats.ndim == 4
    np.testing.assert_allclose(feats, feats_chunked, atol=1e-5)


def test_predict_is_the_one_inference_path(tiny: Tiny) -> None:
    runner = _runner(tiny)
    batch = _batch(tiny, 5)
    for tta in (1, 4):
        predictions = runner.predict(batch, tta)
        expected = predict_proba(runner.logits, batch, tta=tta)
        np.testing.assert_allclose([p.probabilities for p in predictions], expected, atol=1e-7)
    reference = torch_probabilities(tiny.run_dir, tiny.images[:5], tta=4)
    assert np.abs(expected - reference).max() < 1e-4


def test_predictions_follow_the_threshold_and_carry_cams(tiny: Tiny) -> None:
    runner = _runner(tiny)
    predictions = runner.predict(_batch(tiny, 12))
    threshold = runner.manifest.threshold
    for p in predictions:
        assert p.decision.target == (p.probabilities[TARGET_INDEX] >= threshold)
        assert p.cam is not None and p.cam.shape == (2, 2) and p.cam.max() <= 1.0
    assert {p.decision.target for p in predictions} == {True, False}


def test_the_heat_map_is_the_melanoma_map_whatever_the_decision(tiny: Tiny) -> None:
    from dermcad.inference.heatmap import class_activation_maps

    runner = _runner(tiny)
    batch = _batch(tiny, 12)
    predictions = runner.predict(batch, tta=1)
    assert any(p.decision.label != TARGET_INDEX for p in predictions)  # some decided otherwise
    _, features = runner.run(batch, features=True)
    assert runner.loaded.classifier is not None
    weight, _ = runner.loaded.classifier
    expected = class_activation_maps(features, weight, [TARGET_INDEX] * len(batch))
    for p, cam in zip(predictions, expected, strict=True):
        np.testing.assert_allclose(p.cam, cam, atol=1e-5)


def test_result_item_and_its_csv_row_agree(tiny: Tiny) -> None:
    runner = _runner(tiny)
    [prediction] = runner.predict(_batch(tiny, 1))
    item = result_item(
        name="a.jpg",
        model_id="alias",
        manifest=runner.manifest,
        tta=1,
        width=3,
        height=4,
        prediction=prediction,
        heatmap_url="/x.png",
    )
    assert item["heatmap_class"] == "melanoma"
    row = flatten_item(item, list(CLASSES))
    assert list(row) == csv_columns(list(CLASSES))
    assert row["prediction"] == item["prediction"]["prediction"]
    assert row["p_melanoma"] == item["probabilities"]["melanoma"] == item["melanoma_probability"]
    assert row["model_id"] == "alias" and row["error"] == ""
    failed = result_item(
        name="b.jpg",
        model_id="alias",
        manifest=runner.manifest,
        tta=1,
        width=None,
        height=None,
        error="corrupt",
    )
    assert failed["probabilities"] is None and failed["prediction"] is None
    assert failed["heatmap_url"] is None and failed["heatmap_class"] is None
    assert flatten_item(failed, list(CLASSES))["error"] == "corrupt"


def test_csv_text_cannot_run_as_a_spreadsheet_formula() -> None:
    assert spreadsheet_safe("=cmd|' /C calc'!A0.jpg") == "'=cmd|' /C calc'!A0.jpg"
    assert [spreadsheet_safe(t) for t in ("+1.jpg", "-x", "@sum", "\tx")] == [
        "'+1.jpg",
        "'-x",
        "'@sum",
        "'\tx",
    ]
    assert spreadsheet_safe("ISIC_0000001.jpg") == "ISIC_0000001.jpg"
    assert spreadsheet_safe("") == ""


def test_the_graph_is_fed_under_the_manifests_input_name(tiny: Tiny, tmp_path: Path) -> None:
    import json
    import shutil

    import pytest

    from dermcad.errors import UserError
    from dermcad.inference.models import ModelsConfig, open_models

    copy = tmp_path / tiny.model_id
    shutil.copytree(tiny.package, copy)
    data = json.loads((copy / "model.json").read_text(encoding="utf-8"))
    data["input"]["name"] = "pixels"
    (copy / "model.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(UserError, match="'pixels'"):
        open_models(ModelsConfig.one_package(copy))
    del data["input"]  # an older manifest: today's name, and the model opens
    (copy / "model.json").write_text(json.dumps(data), encoding="utf-8")
    (runner,) = open_models(ModelsConfig.one_package(copy)).values()
    assert runner.predict(_batch(tiny, 2))[0].probabilities.shape == (len(CLASSES),)
