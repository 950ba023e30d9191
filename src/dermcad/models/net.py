"""``DermcadNet``: a timm backbone, global pooling and a dermcad head.

The split into :meth:`DermcadNet.forward_features` (the last convolutional feature map) and
:meth:`DermcadNet.forward_head` (pooling + head) is what serving exports to ONNX as the outputs
``features`` and ``logits``, so that class-activation maps can be drawn without torch.
"""

from __future__ import annotations

from typing import Any, cast

import torch
from torch import nn

from dermcad.models.config import ModelConfig
from dermcad.models.heads import ClassifierHead, MetadataBranch
from dermcad.models.metadata import metadata_width


class DermcadNet(nn.Module):
    """A classifier ``[N, 3, S, S] -> [N, C]`` logits, with the features and head exposed."""

    def __init__(self, config: ModelConfig, backbone: nn.Module) -> None:
        super().__init__()
        self.config = config
        self.backbone = backbone
        self.num_features = int(cast(Any, backbone).num_features)
        meta_in = metadata_width(config.metadata_features)
        self.meta = MetadataBranch(meta_in) if meta_in else None
        head_in = self.num_features + (MetadataBranch.out_features if self.meta else 0)
        self.head = ClassifierHead(
            head_in,
            config.num_classes,
            config.head,
            config.dropout,
            config.multi_dropout_samples,
        )
        self._gap_only: bool | None = None

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The backbone's last feature map, ``[N, F, h, w]`` for CNNs."""
        return cast(torch.Tensor, cast(Any, self.backbone).forward_features(x))

    def pooled(self, features: torch.Tensor) -> torch.Tensor:
        """Global pooling (and whatever the backbone does before its classifier): ``[N, F]``."""
        head = cast(Any, self.backbone).forward_head
        return cast(torch.Tensor, head(features, pre_logits=True))

    def forward_head(
        self, features: torch.Tensor, meta: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Logits ``[N, C]`` from the feature map (and the metadata vector if the model has one)."""
        pooled = self.pooled(features)
        if self.meta is not None:
            if meta is None:
                raise ValueError(
                    f"this model takes metadata {list(self.config.metadata_features)}; none given"
                )
            pooled = torch.cat([pooled, self.meta(meta)], dim=1)
        return self.head(pooled)  # type: ignore[no-any-return]

    def forward(self, x: torch.Tensor, meta: torch.Tensor | None = None) -> torch.Tensor:
        return self.forward_head(self.forward_features(x), meta)

    def classifier_weights(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """``(W [C, F], b [C])`` of the linear layer after global average pooling, for CAMs.

        ``None`` when the logits are not a linear function of the average-pooled feature map
        (a metadata branch, or a backbone with a norm or MLP between pooling and classifier).
        """
        if self.meta is not None or not self._is_gap_only():
            return None
        return self.head.fc.weight.detach(), self.head.fc.bias.detach()

    def _is_gap_only(self) -> bool:
        # Checked once, on a probe: does the backbone's pre-logits equal the spatial mean?
        if self._gap_only is None:
            probe = torch.randn(2, self.num_features, 3, 3)
            was_training = self.backbone.training
            self.backbone.eval()
            try:
                with torch.no_grad():
                    out = self.pooled(probe)
                self._gap_only = out.shape == (2, self.num_features) and bool(
                    torch.allclose(out, probe.mean(dim=(2, 3)), atol=1e-5)
                )
            except (RuntimeError, ValueError):
                self._gap_only = False
            finally:
                self.backbone.train(was_training)
        return self._gap_only
