"""Per-image prediction files: dermcad's CSV and the ``isic-challenge-scoring`` format."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from dermcad.atomic import write_text_atomic
from dermcad.decision import DecisionRule

#: dermcad class -> ISIC 2019 column (the scorer's category names).
ISIC_COLUMNS: dict[str, str] = {
    "melanoma": "MEL",
    "nevus": "NV",
    "BCC": "BCC",
    "AK": "AK",
    "BKL": "BKL",
    "DF": "DF",
    "VASC": "VASC",
    "SCC": "SCC",
    "unknown": "UNK",
}


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    write_text_atomic(path, frame.to_csv(index=False, float_format="%.6f"))


def predictions_frame(
    image_ids: Sequence[str],
    labels: np.ndarray,
    probs: np.ndarray,
    classes: Sequence[str],
    threshold: float,
) -> pd.DataFrame:
    rule = DecisionRule.of(classes, threshold)
    target = rule.target_index
    frame = pd.DataFrame({"image_id": list(image_ids)})
    frame["label"] = [classes[i] if i >= 0 else "" for i in labels]
    for c, name in enumerate(classes):
        frame[f"p_{name}"] = probs[:, c]
    frame["melanoma_probability"] = probs[:, target]
    frame["flagged_melanoma"] = rule.flags(probs)
    frame["predicted"] = [classes[i] for i in rule.labels(probs)]
    return frame


def isic_frames(
    image_ids: Sequence[str], labels: np.ndarray, probs: np.ndarray, classes: Sequence[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(predictions, ground truth)`` with an ``image`` column and one column per category."""
    columns = [ISIC_COLUMNS[c] for c in classes]
    prediction = pd.DataFrame(probs, columns=columns)
    prediction.insert(0, "image", list(image_ids))
    truth = pd.DataFrame(np.eye(len(classes))[labels], columns=columns)
    truth.insert(0, "image", list(image_ids))
    return prediction, truth


def write_predictions(
    eval_dir: Path,
    split: str,
    image_ids: Sequence[str],
    labels: np.ndarray,
    probs: np.ndarray,
    classes: Sequence[str],
    threshold: float,
) -> list[Path]:
    paths = [
        eval_dir / f"predictions_{split}.csv",
        eval_dir / f"predictions_{split}.isic.csv",
        eval_dir / f"truth_{split}.isic.csv",
    ]
    _write_csv(predictions_frame(image_ids, labels, probs, classes, threshold), paths[0])
    prediction, truth = isic_frames(image_ids, labels, probs, classes)
    _write_csv(prediction, paths[1])
    _write_csv(truth, paths[2])
    return paths
