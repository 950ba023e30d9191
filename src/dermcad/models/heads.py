"""Classification heads and the optional metadata branch."""

from __future__ import annotations

import torch
from torch import nn

from dermcad.models.config import HeadKind


class ClassifierHead(nn.Module):
    """Linear, dropout + linear, or multi-sample dropout through one linear layer.

    Multi-sample dropout (the thesis and the SIIM-ISIC 2020 winning solution) averages the linear
    layer over ``samples`` independent dropout masks while training; in eval mode every mask is the
    identity, so the head is exactly the plain linear layer (what class-activation maps rely on).
    """

    def __init__(
        self, in_features: int, num_classes: int, kind: HeadKind, dropout: float, samples: int
    ) -> None:
        super().__init__()
        self.kind = kind
        self.samples = samples if kind == "multi_dropout" else 1
        self.drop = nn.Dropout(dropout) if kind != "linear" else nn.Identity()
        self.fc = nn.Linear(in_features, num_classes)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        if self.samples == 1 or not self.training:
            return self.fc(self.drop(pooled))  # type: ignore[no-any-return]
        total = self.fc(self.drop(pooled))
        for _ in range(self.samples - 1):
            total = total + self.fc(self.drop(pooled))
        return total / self.samples  # type: ignore[no-any-return]


class MetadataBranch(nn.Module):
    """The winning solution's metadata MLP: n -> 512 -> 128 with BatchNorm, SiLU and dropout."""

    out_features = 128

    def __init__(self, in_features: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(in_features, 512),
            nn.BatchNorm1d(512),
            nn.SiLU(),
            nn.Dropout(0.3),
            nn.Linear(512, self.out_features),
            nn.BatchNorm1d(self.out_features),
            nn.SiLU(),
        )

    def forward(self, meta: torch.Tensor) -> torch.Tensor:
        return self.net(meta)  # type: ignore[no-any-return]
