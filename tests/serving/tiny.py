"""A real, tiny trained-run stand-in and its exported package, shared by the serving-side tests.

A ``test_resnet`` (timm's test network) with seeded random weights is written as a dermcad run
directory (``run.json``, ``best.pt``, split, ``eval/metrics.json``) over a small synthetic dataset,
then published with :func:`dermcad.export.from_run.export_run`, exactly as ``dermcad export``
does. The melanoma threshold is the median of the torch model's melanoma probabilities on the
dataset, so that some images are flagged and some are not. Made once per test session.

With ``DERMCAD_TEST_FIXTURES`` set to a folder, the model is made there once, with the torch
model's reference probabilities of every image (TTA 1, 4 and 8), and later sessions reuse it:
that is how the serving-only install, which has no torch, runs the serving tests
(``scripts/serving-tests.sh``).
"""

from __future__ import annotations

import importlib.util
import json
import os
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
REFERENCE_TTAS = (1, 4, 8)


def fixtures_dir() -> Path | None:
    """``DERMCAD_TEST_FIXTURES``: where fixtures made with torch are kept (serving-only runs)."""
    folder = os.environ.get("DERMCAD_TEST_FIXTURES")
    return Path(folder) if folder else None


def has_torch() -> bool:
    return importlib.util.find_spec("torch") is not None


def torch_probabilities(run_dir: Path, images: list[Path], tta: int = 1) -> np.ndarray:
    """Reference probabilities: the run's torch model through the one inference path (without
    torch: those it computed when the kept fixture was made)."""
    if not has_torch():
        saved = json.loads((run_dir.parent / "tiny.json").read_text(encoding="utf-8"))
        rows = [saved["images"].index(str(image)) for image in images]
        return np.asarray(np.load(run_dir.parent / f"reference_tta{tta}.npy")[rows])
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
    if "tiny" in _CACHE:
        return _CACHE["tiny"]
    kept = fixtures_dir()
    record = kept / "tiny" / "tiny.json" if kept else None
    if record is not None and record.is_file():
        saved = json.loads(record.read_text(encoding="utf-8"))
        root = record.parent
        images = [Path(p) for p in saved["images"]]
        _CACHE["tiny"] = Tiny(root / "registry", MODEL_ID, root / "run", images, saved["labels"])
        return _CACHE["tiny"]
    if not has_torch():
        pytest.fail("the tiny test model needs torch, or DERMCAD_TEST_FIXTURES with a kept one")
    from dermcad.export.from_run import ExportOptions, export_run

    root = record.parent if record is not None else factory.mktemp("tiny")
    root.mkdir(parents=True, exist_ok=True)
    run_dir, images, labels = make_run(root)
    registry = root / "registry"
    export_run(run_dir, registry, MODEL_ID, ExportOptions(display_name="Tiny test model"))
    _CACHE["tiny"] = Tiny(registry, MODEL_ID, run_dir, images, labels)
    if record is not None:
        for tta in REFERENCE_TTAS:
            np.save(root / f"reference_tta{tta}.npy", torch_probabilities(run_dir, images, tta))
        saved = {"images": [str(p) for p in images], "labels": labels}
        record.write_text(json.dumps(saved), encoding="utf-8")  # last: the fixture is complete
    return _CACHE["tiny"]
