"""Import of the thesis' ``ResNet18_Melanoma`` checkpoints (``.pth.tar``) into a run directory.

The thesis saved ``{"model_state_dict": ..., ...}`` where the state dict is a torchvision resnet18
with ``fc = Identity`` plus ``myfc = Linear(512, 8)`` (multi-sample dropout, which has no weights),
classes in dermcad's order (AK, BCC, BKL, DF, SCC, VASC, melanoma, nevus). timm's resnet18 uses
torchvision's parameter names, so only the classifier is renamed.
"""

from __future__ import annotations

import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from dermcad import __version__
from dermcad.atomic import write_json_atomic
from dermcad.errors import UserError
from dermcad.models.build import build_model
from dermcad.models.config import ModelConfig
from dermcad.models.net import DermcadNet
from dermcad.models.registry import preprocess_spec_for
from dermcad.models.run import RUN_FORMAT, atomic_torch_save
from dermcad.models.weights import read_state_dict, strip_wrappers
from dermcad.taxonomy import CLASSES

THESIS_IMG_SIZE = 256


def thesis_model_config() -> ModelConfig:
    return ModelConfig(net_type="resnet18", head="multi_dropout", classes=CLASSES)


_BODY_PREFIXES = ("enet.", "resnet.", "model.", "base_model.")


def _strip_body_prefix(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # The resnet may sit under an attribute of ResNet18_Melanoma (e.g. ``enet.conv1.weight``).
    for prefix in _BODY_PREFIXES:
        if state and all(k.startswith(prefix) for k in state):
            return {k[len(prefix) :]: v for k, v in state.items()}
    return state


def load_thesis_checkpoint(path: Path | str) -> DermcadNet:
    """A :class:`DermcadNet` holding a thesis checkpoint's weights (eval mode)."""
    path = Path(path)
    state = strip_wrappers(read_state_dict(path))
    if "myfc.weight" not in state:
        raise UserError(f"{path} is not a ResNet18_Melanoma checkpoint: no 'myfc' layer")
    if tuple(state["myfc.weight"].shape) != (len(CLASSES), 512):
        raise UserError(
            f"{path}: myfc has shape {tuple(state['myfc.weight'].shape)}, expected (8, 512)"
        )
    body = _strip_body_prefix({k: v for k, v in state.items() if not k.startswith("myfc.")})
    mapped = {f"backbone.{k}": v for k, v in body.items()}
    mapped["head.fc.weight"] = state["myfc.weight"]
    mapped["head.fc.bias"] = state["myfc.bias"]
    model = build_model(thesis_model_config(), load_pretrained=False)
    own = model.state_dict()
    missing = sorted(k for k in own if k not in mapped and not k.endswith("num_batches_tracked"))
    unexpected = sorted(k for k in mapped if k not in own)
    if missing or unexpected:
        raise UserError(
            f"{path} does not fit resnet18: missing {missing[:3]}, unexpected {unexpected[:3]}"
        )
    model.load_state_dict(mapped, strict=False)
    return model.eval()


def import_thesis_checkpoint(
    path: Path | str, run_dir: Path | str, img_size: int = THESIS_IMG_SIZE
) -> Path:
    """Write a run directory (``run.json`` + ``best.pt``) from a thesis checkpoint."""
    path, run_dir = Path(path), Path(run_dir)
    if (run_dir / "run.json").exists():
        raise UserError(f"{run_dir} already holds a run; choose another directory")
    model = load_thesis_checkpoint(path)
    info: dict[str, Any] = {
        "format": RUN_FORMAT,
        "model": thesis_model_config().model_dump(mode="json"),
        "preprocess": preprocess_spec_for("resnet18", img_size).to_dict(),
        "index": None,
        "split": None,
        "dataset": None,
        "origin": f"imported from thesis checkpoint {path.name}",
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "dermcad": __version__,
        },
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "best_epoch": None,
        "seconds": None,
    }
    atomic_torch_save(run_dir / "best.pt", {"model": model.state_dict(), "epoch": 0})
    write_json_atomic(run_dir / "run.json", info)
    return run_dir
