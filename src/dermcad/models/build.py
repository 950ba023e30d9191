"""``build_model``: a :class:`DermcadNet` from a :class:`ModelConfig`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from dermcad.errors import UserError
from dermcad.models.config import (
    PRETRAINED_IMAGENET,
    PRETRAINED_LITE0_OFFLINE,
    PRETRAINED_NONE,
    ModelConfig,
)
from dermcad.models.net import DermcadNet
from dermcad.models.registry import get_backbone
from dermcad.models.weights import (
    check_lite0_arch,
    lite0_offline_path,
    load_backbone_weights,
    read_state_dict,
)


def create_backbone(timm_name: str, *, imagenet: bool = False, drop_path: float = 0.0) -> nn.Module:
    """A timm backbone without classifier (``num_classes=0``), keeping its global pooling."""
    import timm

    kwargs: dict[str, Any] = {"drop_path_rate": drop_path} if drop_path else {}
    try:
        return timm.create_model(timm_name, pretrained=imagenet, num_classes=0, **kwargs)
    except Exception as exc:  # network, hub and file errors come in many types
        if not imagenet:
            raise
        raise UserError(
            f"could not load timm's ImageNet weights for {timm_name!r} ({type(exc).__name__}: "
            f"{exc}). Without internet access use pretrained: <path to a weights file> or, for "
            "tf_efficientnet_lite0, pretrained: efficientnet-lite0-offline"
        ) from exc


def build_model(config: ModelConfig, *, load_pretrained: bool = True) -> DermcadNet:
    """Build the network; with ``load_pretrained`` load the weights ``config.pretrained`` names.

    Pass ``load_pretrained=False`` when a checkpoint will overwrite every weight anyway
    (:func:`dermcad.models.load_run`): no download is tried then.
    """
    entry = get_backbone(config.net_type)
    want = config.pretrained if load_pretrained else PRETRAINED_NONE
    backbone = create_backbone(entry.timm_name, imagenet=want == PRETRAINED_IMAGENET)
    if want == PRETRAINED_LITE0_OFFLINE:
        check_lite0_arch(entry.timm_name)
        path = lite0_offline_path()
        load_backbone_weights(backbone, read_state_dict(path), f"{want} ({path})")
    elif want not in (PRETRAINED_NONE, PRETRAINED_IMAGENET):
        path = Path(want).expanduser()
        load_backbone_weights(backbone, read_state_dict(path), str(path))
    return DermcadNet(config, backbone)
