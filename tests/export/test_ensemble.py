"""``dermcad ensemble``: the mean of several runs' logits, evaluated and exported as one model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from dermcad.errors import UserError
from dermcad.models import ModelConfig, build_model, load_run
from dermcad.models.ensemble import EnsembleNet, make_ensemble
from serving.tiny import Tiny, torch_probabilities


def _second_member(tiny: Tiny, root: Path, seed: int = 5) -> Path:
    """The tiny run's twin with other (seeded random) weights."""
    run = root / f"member-{seed}"
    shutil.copytree(tiny.run_dir, run)
    _, info = load_run(tiny.run_dir)
    torch.manual_seed(seed)
    model = build_model(ModelConfig.model_validate(info["model"]), load_pretrained=False)
    torch.save({"model": model.state_dict(), "epoch": 1}, run / "best.pt")
    return run


def test_logits_features_and_cam_weights_of_an_ensemble(tiny: Tiny, tmp_path: Path) -> None:
    other = _second_member(tiny, tmp_path)
    ensemble_dir = make_ensemble([tiny.run_dir, other], tmp_path / "ens")
    model, info = load_run(ensemble_dir)
    assert isinstance(model, EnsembleNet)
    assert info["ensemble"]["members"] == [str(tiny.run_dir.resolve()), str(other.resolve())]
    a, b = load_run(tiny.run_dir)[0], load_run(other)[0]
    x = torch.randn(3, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        logits = model(x)
        assert not torch.allclose(a(x), b(x))  # two different members
        torch.testing.assert_close(logits, (a(x) + b(x)) / 2)
        features = model.forward_features(x)
        assert features.shape[1] == a.num_features + b.num_features
        torch.testing.assert_close(model.forward_head(features), logits)
        weights = model.classifier_weights()
        assert weights is not None  # test_resnet: global average pooling, then one linear layer
        weight, bias = weights
        torch.testing.assert_close(features.mean(dim=(2, 3)) @ weight.T + bias, logits)


@pytest.mark.slow
def test_an_ensemble_exports_to_one_package_equal_to_torch(tiny: Tiny, tmp_path: Path) -> None:
    from dermcad.export.from_run import ExportOptions, export_run
    from dermcad.export.package import load_batch
    from dermcad.inference.runner import ModelRunner
    from dermcad.registry.store import open_package

    ensemble_dir = make_ensemble([tiny.run_dir, _second_member(tiny, tmp_path)], tmp_path / "ens")
    shutil.copytree(tiny.run_dir / "eval", ensemble_dir / "eval")  # its calibration, as evaluate
    report = export_run(ensemble_dir, tmp_path / "registry", "ens", ExportOptions())
    assert report.manifest.net_type == "ensemble of 2: test_resnet"
    assert report.manifest.has_heatmaps
    runner = ModelRunner.open(open_package(tmp_path / "registry", "ens"))
    images = tiny.images[:6]
    batch = load_batch(images, runner.manifest.spec)
    served = np.stack([p.probabilities for p in runner.predict(batch, 1)])
    expected = torch_probabilities(ensemble_dir, images)
    assert np.abs(served - expected).max() < 1e-4
    assert all(p.cam is not None for p in runner.predict(batch[:2], 1))


def test_runs_that_do_not_fit_together_are_refused(tiny: Tiny, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="at least two"):
        make_ensemble([tiny.run_dir], tmp_path / "one")
    other = _second_member(tiny, tmp_path)
    info = json.loads((other / "run.json").read_text())
    info["preprocess"]["img_size"] = 96
    (other / "run.json").write_text(json.dumps(info))
    with pytest.raises(UserError, match="another preprocess"):
        make_ensemble([tiny.run_dir, other], tmp_path / "mixed")
    twin = _second_member(tiny, tmp_path, seed=6)
    nested = make_ensemble([tiny.run_dir, twin], tmp_path / "ens")
    with pytest.raises(UserError, match="already holds a run"):
        make_ensemble([tiny.run_dir, twin], nested)
    with pytest.raises(UserError, match="itself an ensemble"):
        make_ensemble([nested, tiny.run_dir], tmp_path / "nested")
    assert not (tmp_path / "mixed").exists() and not (tmp_path / "nested").exists()
