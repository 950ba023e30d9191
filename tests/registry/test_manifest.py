"""The manifest schema (design.md section 4)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dermcad.errors import UserError
from dermcad.registry.manifest import Manifest, parse_manifest, read_manifest
from serving.tiny import Tiny


def _data(tiny: Tiny) -> dict[str, Any]:
    return json.loads((tiny.package / "model.json").read_text())


def test_exported_manifest_has_the_design_fields(tiny: Tiny) -> None:
    manifest = read_manifest(tiny.package / "model.json")
    assert manifest.id == tiny.model_id and manifest.target_class == "melanoma"
    assert manifest.classes[6] == "melanoma" and manifest.out_dim == 8
    assert manifest.preprocess.img_size == manifest.img_size == 64
    assert manifest.outputs == ["logits", "features"] and manifest.has_heatmaps
    assert manifest.metrics["test"].melanoma_auc == 0.5
    assert manifest.calibration.operating_point.startswith("median")
    assert {"torch", "onnxruntime", "onnx", "dermcad"} <= set(manifest.versions)
    assert "not a medical device" in manifest.intended_use
    assert manifest.parity is not None and manifest.parity.max_prob_diff < 1e-4
    assert manifest.recipe == {"epochs": 1, "lr": 0.001}


def test_unknown_top_level_keys_are_refused(tiny: Tiny) -> None:
    data = _data(tiny)
    data["thresold"] = 0.3
    with pytest.raises(UserError, match="thresold"):
        parse_manifest(data, "model.json")


def test_metrics_need_their_fixed_keys_but_allow_more(tiny: Tiny) -> None:
    data = _data(tiny)
    data["metrics"]["external"] = {"melanoma_auc": 0.7, "n_images": 3, "extra": 1}
    assert parse_manifest(data, "x").metrics["external"].model_dump()["extra"] == 1
    del data["metrics"]["test"]["n_images"]
    with pytest.raises(UserError, match=r"metrics\.test\.n_images"):
        parse_manifest(data, "x")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"out_dim": 9}, "out_dim"),
        ({"target_class": "cat"}, "target_class"),
        ({"tta": 3}, "tta"),
        ({"img_size": 128}, "img_size"),
        ({"sha256": "abc"}, "sha256"),
        ({"id": "../escape"}, "id"),
    ],
)
def test_inconsistent_manifests_are_refused(
    tiny: Tiny, change: dict[str, Any], message: str
) -> None:
    with pytest.raises(UserError, match=message):
        parse_manifest({**_data(tiny), **change}, "model.json")


def test_read_manifest_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no model manifest"):
        read_manifest(tmp_path / "model.json")
    (tmp_path / "model.json").write_text("{not json")
    with pytest.raises(UserError, match=str(tmp_path)):
        read_manifest(tmp_path / "model.json")


def test_round_trip(tiny: Tiny) -> None:
    manifest = read_manifest(tiny.package / "model.json")
    assert Manifest.model_validate_json(manifest.to_json()) == manifest


def test_exported_manifest_describes_its_input(tiny: Tiny) -> None:
    manifest = parse_manifest(_data(tiny), "model.json")
    assert manifest.input is not None
    assert manifest.input.name == "image"
    assert (manifest.input.dtype, manifest.input.layout) == ("float32", "NCHW")
    assert manifest.input.size == manifest.img_size
    low, high = manifest.input.value_range
    spec = manifest.spec  # 0 and 255 through the one preprocessing formula, per channel
    assert low == pytest.approx(min(-m / s for m, s in zip(spec.mean, spec.std, strict=True)))
    assert high == pytest.approx(max((1 - m) / s for m, s in zip(spec.mean, spec.std, strict=True)))


def test_older_manifests_without_an_input_get_todays_description(tiny: Tiny) -> None:
    data = _data(tiny)
    stored = parse_manifest(data, "model.json").input
    del data["input"]
    older = parse_manifest(data, "model.json")
    assert older.input is None
    assert older.model_input == stored


def test_input_size_must_match_img_size(tiny: Tiny) -> None:
    data = _data(tiny)
    data["input"] = {**data["input"], "size": data["img_size"] + 1}
    with pytest.raises(UserError, match=r"input\.size"):
        parse_manifest(data, "model.json")
