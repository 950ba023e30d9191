"""Ensembles of trained runs: the mean of several networks' logits, as one model.

``dermcad ensemble RUN1 RUN2 ... --out RUN`` writes a run directory whose ``run.json`` lists its
members (``ensemble.members``, absolute paths) instead of a ``best.pt``; :func:`load_run` then
returns an :class:`EnsembleNet`, so ``evaluate`` (TTA, temperature, threshold), ``report`` and
``export`` work on it unchanged, and the exported package is one ONNX graph.

The members must share the classes, the preprocessing, the index and the split (the ensemble is
calibrated and evaluated on the same validation and test images as each member). Logits, not
probabilities, are averaged: the ensemble's logits are then a linear function of its members'
pooled feature maps side by side, so class-activation maps still work (:meth:`classifier_weights`
is the members' weights side by side, each divided by the number of members).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dermcad.errors import UserError
from dermcad.models.config import ModelConfig
from dermcad.models.net import DermcadNet

COMBINE = "mean-logits"
_SHARED = ("preprocess", "index", "split")


class EnsembleNet(nn.Module):
    """``[N, 3, S, S] -> [N, C]``: the mean of the members' logits (members in eval mode)."""

    def __init__(self, members: Sequence[DermcadNet]) -> None:
        super().__init__()
        if len(members) < 2:
            raise ValueError("an ensemble needs at least two members")
        self.members = nn.ModuleList(members)
        self.config: ModelConfig = members[0].config
        self._widths = [member.num_features for member in members]
        self.num_features = sum(self._widths)

    def _nets(self) -> list[DermcadNet]:
        return [m for m in self.members if isinstance(m, DermcadNet)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([member(x) for member in self._nets()]).mean(dim=0)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The members' feature maps side by side, ``[N, sum F, h, w]`` (same ``h, w`` needed:
        members of one backbone family at one input size)."""
        return torch.cat([member.forward_features(x) for member in self._nets()], dim=1)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        parts = torch.split(features, self._widths, dim=1)
        nets = self._nets()
        return torch.stack([m.forward_head(f) for m, f in zip(nets, parts, strict=True)]).mean(0)

    def classifier_weights(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """``(W [C, sum F], b [C])`` such that logits = W @ gap(features) + b; ``None`` unless
        every member has one and all share a backbone (feature maps of one size)."""
        nets = self._nets()
        weights = [m.classifier_weights() for m in nets]
        if any(w is None for w in weights) or len({m.config.net_type for m in nets}) > 1:
            return None
        pairs = [w for w in weights if w is not None]
        n = len(pairs)
        return torch.cat([w / n for w, _ in pairs], dim=1), torch.stack([b for _, b in pairs]).mean(
            0
        )


def ensemble_info(
    members: Sequence[Path], infos: Sequence[dict[str, Any]], name: str
) -> dict[str, Any]:
    """The ``run.json`` of an ensemble of the runs ``members`` (their ``run.json`` in ``infos``);
    :class:`UserError` when they do not fit together."""
    if len(members) < 2:
        raise UserError("an ensemble needs at least two runs")
    first = infos[0]
    for path, info in zip(members, infos, strict=True):
        if "ensemble" in info:
            raise UserError(f"{path} is itself an ensemble; list its members instead")
        if info["model"].get("metadata_features"):
            raise UserError(f"{path}: members that take metadata features are not supported")
        if info["model"]["classes"] != first["model"]["classes"]:
            raise UserError(f"{path}: other classes than {members[0]}")
        for key in _SHARED:
            mine, theirs = _comparable(key, info.get(key)), _comparable(key, first.get(key))
            if mine != theirs:
                raise UserError(f"{path}: another {key} than {members[0]} ({mine} vs {theirs})")
    nets = sorted({info["model"]["net_type"] for info in infos})
    return {
        "format": first["format"],
        "name": name,
        "model": first["model"],
        "preprocess": first["preprocess"],
        "index": first.get("index"),
        "split": first.get("split"),
        "dataset": first.get("dataset"),
        "ensemble": {
            "members": [str(path.resolve()) for path in members],
            "combine": COMBINE,
            "net_types": nets,
        },
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "best_epoch": None,
        "seconds": None,
    }


def _comparable(key: str, value: Any) -> Any:
    """What must match between members: the index and split by their fingerprint and scheme
    (their paths may differ, e.g. runs trained on another machine)."""
    if not isinstance(value, dict):
        return value
    if key == "index":
        return value.get("fingerprint")
    if key == "split":
        return (value.get("scheme"), value.get("fold"))
    return value


def make_ensemble(
    members: Sequence[Path | str], run_dir: Path | str, name: str | None = None
) -> Path:
    """Write the ensemble run directory ``run_dir`` (``run.json`` only) of the runs ``members``."""
    from dermcad.atomic import write_json_atomic
    from dermcad.models.run import load_run

    paths, run_dir = [Path(m) for m in members], Path(run_dir)
    if (run_dir / "run.json").exists():
        raise UserError(f"{run_dir} already holds a run; choose another directory")
    infos = [load_run(path)[1] for path in paths]  # loads each: a member that cannot load fails now
    info = ensemble_info(paths, infos, name or run_dir.resolve().name)
    write_json_atomic(run_dir / "run.json", info)
    return run_dir


def load_members(info: dict[str, Any], run_dir: Path) -> EnsembleNet:
    """The :class:`EnsembleNet` of an ensemble run directory's ``run.json``."""
    from dermcad.models.run import load_run

    members = []
    for member in info["ensemble"]["members"]:
        model, member_info = load_run(member)
        if not isinstance(model, DermcadNet) or "ensemble" in member_info:
            raise UserError(f"{run_dir}: member {member} is itself an ensemble")
        members.append(model)
    return EnsembleNet(members).eval()
