"""Running a trained torch model over an index: TTA through :func:`dermcad.inference.predict_proba`.

The torch model is wrapped as a logits function (numpy in, numpy out), the same contract an ONNX
Runtime session fulfils in serving. The wrapper records every view's logits so that calibration
can be fitted afterwards without running the network again.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from dermcad.errors import UserError
from dermcad.inference.preprocess import ImageError, PreprocessSpec, decode_image, to_array
from dermcad.inference.tta import predict_proba


@dataclass
class Predictions:
    image_ids: list[str]
    labels: np.ndarray  # [N] class index, -1 where the class is not one of the model's
    view_logits: np.ndarray  # [V, N, C]
    probs: np.ndarray  # [N, C], temperature 1


class RecordingLogits:
    """A logits function over a torch model that keeps what it returned, view by view."""

    def __init__(self, model: nn.Module, device: torch.device) -> None:
        self.model = model
        self.device = device
        self.views: list[np.ndarray] = []

    @torch.no_grad()
    def __call__(self, batch: np.ndarray) -> np.ndarray:
        logits = self.model(torch.from_numpy(batch).to(self.device)).float().cpu().numpy()
        self.views.append(logits)
        return np.asarray(logits)


def _load(path: str, spec: PreprocessSpec) -> np.ndarray:
    try:
        return to_array(decode_image(path, draft_size=spec.img_size), spec)
    except OSError as exc:
        raise UserError(f"{path}: cannot read the image ({exc.strerror or exc})") from exc
    except ImageError as exc:
        raise UserError(f"{path}: {exc}") from exc


def _load_batch(paths: list[str], spec: PreprocessSpec) -> np.ndarray:
    return np.stack([_load(p, spec) for p in paths])


def predict_frame(
    model: nn.Module,
    frame: pd.DataFrame,
    spec: PreprocessSpec,
    classes: tuple[str, ...],
    *,
    tta: int = 1,
    batch_size: int = 64,
    device: str = "cpu",
    progress: bool = False,
) -> Predictions:
    """Probabilities and recorded per-view logits for every row of an index frame."""
    from tqdm import tqdm

    torch_device = torch.device(device)
    model = model.to(torch_device).eval()
    paths = [str(p) for p in frame["path"]]
    views: list[list[np.ndarray]] = [[] for _ in range(tta)]
    probs: list[np.ndarray] = []
    starts = range(0, len(paths), batch_size)
    for start in tqdm(starts, disable=not progress, leave=False, desc=f"predict (tta {tta})"):
        recorder = RecordingLogits(model, torch_device)
        batch = _load_batch(paths[start : start + batch_size], spec)
        probs.append(predict_proba(recorder, batch, tta=tta))
        for k, logits in enumerate(recorder.views):
            views[k].append(logits)
    labels = np.asarray([classes.index(x) if x in classes else -1 for x in frame["label"]])
    return Predictions(
        image_ids=[str(i) for i in frame["image_id"]],
        labels=labels,
        view_logits=np.stack([np.concatenate(v) for v in views]),
        probs=np.concatenate(probs),
    )
