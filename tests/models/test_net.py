from __future__ import annotations

import pytest
import torch

from dermcad.models import ModelConfig, build_model


@pytest.fixture(scope="module")
def resnet() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(ModelConfig(head="multi_dropout")).eval()


def test_forward_is_features_then_head(resnet: torch.nn.Module) -> None:
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        features = resnet.forward_features(x)
        logits = resnet(x)
    assert features.shape == (2, 512, 2, 2)
    assert logits.shape == (2, 8)
    torch.testing.assert_close(resnet.forward_head(features), logits)


def test_classifier_weights_give_class_activation_maps(resnet: torch.nn.Module) -> None:
    x = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        features = resnet.forward_features(x)
        logits = resnet(x)
    weights = resnet.classifier_weights()
    assert weights is not None
    w, b = weights
    assert w.shape == (8, 512) and b.shape == (8,)
    cam = torch.einsum("cf,nfhw->nchw", w, features)  # class activation maps
    torch.testing.assert_close(cam.mean(dim=(2, 3)) + b, logits, rtol=1e-4, atol=1e-4)


def test_multi_sample_dropout_is_stochastic_in_training_only() -> None:
    torch.manual_seed(1)
    model = build_model(ModelConfig(head="multi_dropout", dropout=0.5))
    pooled = torch.randn(4, 512)
    model.train()
    assert not torch.allclose(model.head(pooled), model.head(pooled))
    model.eval()
    plain = pooled @ model.head.fc.weight.T + model.head.fc.bias
    torch.testing.assert_close(model.head(pooled), plain)


def test_no_cam_weights_when_head_is_not_linear_after_gap() -> None:
    convnext = build_model(ModelConfig(net_type="convnext_atto")).eval()
    assert convnext.classifier_weights() is None  # LayerNorm between pooling and classifier
    meta = build_model(ModelConfig(metadata_features=("age", "sex", "site"))).eval()
    assert meta.classifier_weights() is None
    x = torch.randn(2, 3, 64, 64)
    m = torch.randn(2, 11)
    with torch.no_grad():
        assert meta(x, m).shape == (2, 8)
    with pytest.raises(ValueError, match="metadata"):
        meta(x)


def test_efficientnet_feature_map() -> None:
    model = build_model(
        ModelConfig(net_type="efficientnet_b0", num_classes=2, classes=("other", "melanoma"))
    ).eval()
    with torch.no_grad():
        features = model.forward_features(torch.randn(1, 3, 64, 64))
    assert features.shape == (1, 1280, 2, 2)
    assert model.classifier_weights() is not None
