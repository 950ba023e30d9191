"""A real, tiny exported model for the browser tests: resnet18 at 64 px, random weights, published
through the export stage exactly as ``dermcad export`` would.

Its melanoma threshold is set, before export, between the melanoma probabilities of the test
images (computed with the same torch model and the one inference path), so that the page shows
flagged (red) and not flagged (blue) tiles side by side. Nothing is downloaded.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from serving.tiny import fixtures_dir

MODEL_ID = "tiny-resnet18"
IMG_SIZE = 64


def _melanoma_probabilities(model: object, images: Sequence[Path], spec: object) -> np.ndarray:
    from dermcad.export.onnx_export import torch_logits
    from dermcad.export.package import load_batch
    from dermcad.inference.tta import predict_proba
    from dermcad.taxonomy import TARGET_INDEX

    batch = load_batch(images, spec)  # type: ignore[arg-type]
    probs = predict_proba(lambda b: torch_logits(model, b), batch, tta=1, temperature=1.0)
    return np.asarray(probs[:, TARGET_INDEX])


def threshold_between(scores: np.ndarray) -> float:
    """A threshold with about half the scores on each side, at the widest gap near the middle."""
    ordered = np.sort(scores)
    middle = len(ordered) // 2
    candidates = range(max(1, middle - 1), min(len(ordered), middle + 2))
    best = max(candidates, key=lambda i: ordered[i] - ordered[i - 1])
    return float((ordered[best] + ordered[best - 1]) / 2)


# Markdown as model cards are written (configs/ham10000/card.md), and markup that must stay text.
CARD = """**Random weights** (browser-test fixture).

- **What it does**: nothing useful; for testing the web UI only
  (*Sci Data* style italics, `code`).
- A link: [ISIC](https://www.isic-archive.com) and [no script](javascript:alert(1)).

<img src=x onerror="window.cardInjected=1"> stays text."""


def publish_tiny_model(registry: Path, images: Sequence[Path]) -> str:
    """Export and publish the tiny model into ``registry``; returns its id. With
    ``DERMCAD_TEST_FIXTURES`` set, the package made there once is copied instead (so that the
    serving-only install, without torch, runs the browser tests)."""
    kept = fixtures_dir()
    if kept is not None and (kept / "web" / MODEL_ID / "model.json").is_file():
        shutil.copytree(kept / "web" / MODEL_ID, registry / MODEL_ID)
        return MODEL_ID
    _publish(registry, images)
    if kept is not None:
        (kept / "web").mkdir(parents=True, exist_ok=True)
        shutil.copytree(registry / MODEL_ID, kept / "web" / f".{MODEL_ID}.part")
        (kept / "web" / f".{MODEL_ID}.part").rename(kept / "web" / MODEL_ID)
    return MODEL_ID


def _publish(registry: Path, images: Sequence[Path]) -> None:
    import torch

    from dermcad.export.package import ExportInputs, write_package
    from dermcad.models.build import build_model
    from dermcad.models.config import ModelConfig
    from dermcad.models.registry import get_backbone
    from dermcad.registry.store import publish

    torch.manual_seed(7)
    model = build_model(ModelConfig(net_type="resnet18", pretrained="none")).eval()
    spec = get_backbone("resnet18").preprocess_spec(IMG_SIZE)
    threshold = threshold_between(_melanoma_probabilities(model, images, spec))
    test_metrics = {
        "melanoma_auc": 0.5,
        "melanoma_auc_ci95": [0.4, 0.6],
        "balanced_accuracy": 0.125,
        "sensitivity": 0.5,
        "specificity": 0.5,
        "n_images": len(images),
        "tta": 1,
        "split_id": "browser-test",
    }
    inputs = ExportInputs(
        model=model,
        spec=spec,
        net_type="resnet18",
        classes=list(model.config.classes),
        origin="dermcad browser-test fixture (random weights)",
        parity_images=list(images[:2]),
        display_name="Tiny ResNet18 (test fixture)",
        calibration={
            "temperature": 1.0,
            "threshold": threshold,
            "operating_point": "median of the browser-test images (fixture)",
        },
        metrics={
            "test": test_metrics,
            "external": {**test_metrics, "n_images": 150, "n_melanoma": 75, "split_id": None},
        },
        dataset={
            "source": "none: random weights, for tests only",
            "counts": {"test": {"melanoma": 3, "nevus": 3}},
            "excluded": {},
        },
        card=CARD,
    )
    publish(registry, MODEL_ID, lambda folder: write_package(inputs, MODEL_ID, folder, int8=False))
