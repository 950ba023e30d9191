"""Models: the backbone registry, heads, pretrained weights and the thesis checkpoint import.

Importing this package imports torch; the CLI imports it lazily, inside commands.
"""

from __future__ import annotations

from dermcad.models.build import build_model
from dermcad.models.config import ModelConfig
from dermcad.models.net import DermcadNet
from dermcad.models.registry import (
    BACKBONES,
    BackboneEntry,
    get_backbone,
    list_backbones,
    preprocess_spec_for,
)
from dermcad.models.run import load_run, read_run_info

__all__ = [
    "BACKBONES",
    "BackboneEntry",
    "DermcadNet",
    "ModelConfig",
    "build_model",
    "get_backbone",
    "list_backbones",
    "load_run",
    "preprocess_spec_for",
    "read_run_info",
]
