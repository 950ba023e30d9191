"""Reading (and the atomic writing) of a run directory's model: ``run.json`` + ``best.pt``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from pydantic import ValidationError

from dermcad.atomic import atomic_writer
from dermcad.errors import UserError
from dermcad.models.config import ModelConfig
from dermcad.models.net import DermcadNet

if TYPE_CHECKING:
    from dermcad.models.ensemble import EnsembleNet

RUN_FORMAT = "dermcad-run/1"


def atomic_torch_save(path: Path, obj: Any) -> None:
    """``torch.save`` through :func:`dermcad.atomic.atomic_writer` (no half-written checkpoint)."""
    with atomic_writer(path) as handle:
        torch.save(obj, handle)


def read_run_info(run_dir: Path | str) -> dict[str, Any]:
    """The parsed ``run.json`` of a run directory (checked for its format)."""
    path = Path(run_dir) / "run.json"
    if not path.is_file():
        raise UserError(f"{run_dir} is not a dermcad run directory: {path.name} is missing")
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"cannot read {path}: {exc}") from exc
    if not isinstance(info, dict) or info.get("format") != RUN_FORMAT:
        raise UserError(f"{path} is not a {RUN_FORMAT} file")
    return info


def model_config_of(info: dict[str, Any], source: Path) -> ModelConfig:
    try:
        return ModelConfig.model_validate(info["model"])
    except (KeyError, ValidationError) as exc:
        raise UserError(f"{source}: invalid model section: {exc}") from exc


def load_checkpoint_state(path: Path) -> tuple[dict[str, torch.Tensor], int | None]:
    """``(state_dict, epoch)`` of a dermcad checkpoint, loaded with ``weights_only=True``."""
    if not path.is_file():
        raise UserError(f"checkpoint {path} does not exist")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt or foreign files raise many types
        raise UserError(f"cannot read checkpoint {path}: {exc}") from exc
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("model"), dict):
        raise UserError(f"{path} is not a dermcad checkpoint (no 'model' state dict)")
    epoch = checkpoint.get("epoch")
    return checkpoint["model"], epoch if isinstance(epoch, int) else None


def load_run(
    run_dir: Path | str, checkpoint: str = "best.pt"
) -> tuple[DermcadNet | EnsembleNet, dict[str, Any]]:
    """The trained network of a run directory (in eval mode) and its ``run.json``; for an
    ensemble run (``dermcad ensemble``), the :class:`EnsembleNet` of its members' ``best.pt``."""
    from dermcad.models.build import build_model
    from dermcad.models.ensemble import load_members

    run_dir = Path(run_dir)
    info = read_run_info(run_dir)
    if isinstance(info.get("ensemble"), dict):
        return load_members(info, run_dir), info
    config = model_config_of(info, run_dir / "run.json")
    model = build_model(config, load_pretrained=False)
    state, _ = load_checkpoint_state(run_dir / checkpoint)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise UserError(
            f"{run_dir / checkpoint} does not fit the model in run.json: {exc}"
        ) from exc
    model.eval()
    return model, info
