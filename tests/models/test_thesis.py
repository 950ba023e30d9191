from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn

from dermcad.errors import UserError
from dermcad.models import load_run
from dermcad.models.thesis import import_thesis_checkpoint, load_thesis_checkpoint


class ResNet18Melanoma(nn.Module):
    """The thesis' network: torchvision resnet18, fc = Identity, myfc = Linear(512, 8)."""

    def __init__(self) -> None:
        super().__init__()
        self.resnet = torchvision.models.resnet18(weights=None)
        self.resnet.fc = nn.Identity()
        self.myfc = nn.Linear(512, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.myfc(self.resnet(x))


def _write_thesis_checkpoint(path: Path, prefix: str) -> ResNet18Melanoma:
    torch.manual_seed(7)
    net = ResNet18Melanoma().eval()
    for module in net.modules():  # non-trivial batch-norm statistics
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    state = {f"{prefix}{k}": v for k, v in net.resnet.state_dict().items()}
    state |= {f"myfc.{k}": v for k, v in net.myfc.state_dict().items()}
    torch.save({"epoch": 12, "model_state_dict": state, "best_auc": 0.87}, path)
    return net


@pytest.mark.parametrize("prefix", ["", "enet."])
def test_thesis_checkpoint_gives_the_same_logits(tmp_path: Path, prefix: str) -> None:
    path = tmp_path / "ResNet18_Melanoma.pth.tar"
    reference = _write_thesis_checkpoint(path, prefix)
    model = load_thesis_checkpoint(path)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x), rtol=1e-5, atol=1e-5)


def test_import_writes_a_loadable_run(tmp_path: Path) -> None:
    path = tmp_path / "ResNet18_Melanoma.pth.tar"
    reference = _write_thesis_checkpoint(path, "")
    run = import_thesis_checkpoint(path, tmp_path / "run")
    model, info = load_run(run)
    assert info["model"]["head"] == "multi_dropout"
    assert info["preprocess"]["img_size"] == 256
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x), rtol=1e-5, atol=1e-5)
    with pytest.raises(UserError, match="already holds a run"):
        import_thesis_checkpoint(path, run)


def test_foreign_checkpoint_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.pth.tar"
    torch.save({"model_state_dict": {"conv1.weight": torch.zeros(1)}}, path)
    with pytest.raises(UserError, match="myfc"):
        load_thesis_checkpoint(path)
