from __future__ import annotations

import pytest
from pydantic import ValidationError

from dermcad.errors import UserError
from dermcad.models import ModelConfig, get_backbone, list_backbones, preprocess_spec_for
from dermcad.taxonomy import CLASSES_9


def test_defaults_are_the_thesis_network() -> None:
    config = ModelConfig()
    assert config.net_type == "resnet18"
    assert config.num_classes == 8
    assert config.classes[6] == "melanoma"
    assert not config.pretrained_is_path


def test_unknown_keys_and_mismatched_classes_are_rejected() -> None:
    with pytest.raises(ValidationError):
        ModelConfig(net_typo="resnet18")  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="num_classes"):
        ModelConfig(num_classes=9)
    assert ModelConfig(num_classes=9, classes=CLASSES_9).classes[-1] == "unknown"
    with pytest.raises(ValidationError):
        ModelConfig(head="attention")  # type: ignore[arg-type]


def test_path_pretrained_is_recognised() -> None:
    assert ModelConfig(pretrained="/tmp/w.safetensors").pretrained_is_path
    assert not ModelConfig(pretrained="efficientnet-lite0-offline").pretrained_is_path


def test_registry_carries_preprocessing() -> None:
    assert {"resnet18", "resnet50", "efficientnet_b7", "convnext_tiny"} <= set(list_backbones())
    assert preprocess_spec_for("resnet18").img_size == 256
    lite = preprocess_spec_for("tf_efficientnet_lite0")
    assert (lite.img_size, lite.mean, lite.interpolation) == (224, (0.5, 0.5, 0.5), "bicubic")
    assert preprocess_spec_for("efficientnet_b3", 128).img_size == 128


def test_any_timm_name_works_and_unknown_names_fail() -> None:
    entry = get_backbone("mobilenetv3_small_050")
    assert entry.timm_name == "mobilenetv3_small_050"
    assert entry.img_size == 224
    with pytest.raises(UserError, match="unknown backbone"):
        get_backbone("resnet_does_not_exist")
