"""A real, tiny trained-run stand-in and its exported package, shared by the serving-side tests.

A ``test_resnet`` (timm's test network) with seeded random weights is written as a dermcad run
directory (``run.json``, ``best.pt``, split, ``eval/metrics.json``) over a small synthetic dataset,
then published with :func:`dermcad.export.from_run.export_run`, exactly as ``dermcad export``
does. The melanoma threshold is the median of the torch model's melanoma probabilities on the
dataset, so that some images are flagged and some are not. Made once per test session.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

MODEL_ID = "tiny"
NET = "test_resnet"
IMG_SIZE = 64
N_IMAGES = 48


@dataclass(frozen=True)
class Tiny:
    registry: Path
    model_id: str
    run_dir: Path
    images: list[Path]
    labels: list[int]

    @property
    def package(self) -> Path:
        return self.registry / self.model_id


_CACHE: dict[str, Tiny] = {}


def torch_probabilities(run_dir: Path, images: list[Path], tta: int = 1) -> np.ndarray:
    """Reference probabilities: the run's torch model through the one inference path."""
    from dermcad.export.onnx_export import torch_logits
    from dermcad.export.package import load_batch
    from dermcad.inference.preprocess import PreprocessSpec
    from dermcad.inference.tta import predict_proba
    from dermcad.models import load_run

    model, info = load_run(run_dir)
    spec = PreprocessSpec.from_dict(info["preprocess"])
    batch = load_batch(images, spec)
    return predict_proba(lambda b: torch_logits(model, b), batch, tta=tta)


def make_run(root: Path) -> tuple[Path, list[Path], list[int]]:
    """A run directory over a fresh synthetic dataset; returns it, the images and labels."""
    import torch

    from dermcad.data.index import read_index
    from dermcad.data.splits import split_holdout, write_split
    from dermcad.data.synthetic import make_synthetic_dataset
    from dermcad.models import ModelConfig, build_model, preprocess_spec_for

    index_path = make_synthetic_dataset(root / "data", N_IMAGES, image_size=96, seed=3)
    frame = read_index(index_path)
    split_path = write_split(
        root / "split.json", frame, split_holdout(frame, seed=1), seed=1, group_by="auto"
    )
    torch.manual_seed(11)
    config = ModelConfig(net_type=NET)
    model = build_model(config, load_pretrained=False)
    run_dir = root / "run"
    run_dir.mkdir()
    torch.save({"model": model.state_dict(), "epoch": 1}, run_dir / "best.pt")
    info = {
        "format": "dermcad-run/1",
        "model": config.model_dump(mode="json"),
        "preprocess": preprocess_spec_for(NET, IMG_SIZE).to_dict(),
        "index": {"path": str(index_path), "fingerprint": ""},
        "split": {"path": str(split_path), "scheme": "holdout", "fold": None},
        "dataset": {"counts": {}},
        "versions": {"torch": torch.__version__},
    }
    (run_dir / "run.json").write_text(json.dumps(info), encoding="utf-8")
    (run_dir / "recipe.yaml").write_text("epochs: 1\nlr: 0.001\n", encoding="utf-8")
    images = [Path(p) for p in frame["path"]]
    labels = [int(v) for v in frame["label_idx"]]
    melanoma = torch_probabilities(run_dir, images)[:, 6]
    metrics = {
        "test": {
            "melanoma_auc": 0.5,
            "melanoma_auc_ci95": [0.3, 0.7],
            "balanced_accuracy": 0.125,
            "macro_auc": 0.5,
            "pauc_80": 0.0,
            "sensitivity": 0.5,
            "specificity": 0.5,
            "n_images": 5,
            "tta": 1,
        },
        "calibration": {
            "temperature": 1.0,
            "threshold": float(np.median(melanoma)),
            "operating_point": "median of the fixture images (test fixture)",
        },
    }
    (run_dir / "eval").mkdir()
    (run_dir / "eval" / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")
    return run_dir, images, labels


def get_tiny(factory: pytest.TempPathFactory) -> Tiny:
    """The session's tiny model, published in its own registry (made on first use)."""
    if "tiny" not in _CACHE:
        from dermcad.export.from_run import ExportOptions, export_run

        root = factory.mktemp("tiny")
        run_dir, images, labels = make_run(root)
        registry = root / "registry"
        export_run(run_dir, registry, MODEL_ID, ExportOptions(display_name="Tiny test model"))
        _CACHE["tiny"] = Tiny(registry, MODEL_ID, run_dir, images, labels)
    return _CACHE["tiny"]
