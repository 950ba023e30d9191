"""Data loading: decode (JPEG draft mode), optional pre-resized cache, augment, preprocess."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from dermcad.atomic import atomic_writer
from dermcad.augment import Augmenter
from dermcad.inference.preprocess import PreprocessSpec, decode_image, resize, to_array
from dermcad.models.metadata import encode_metadata


@dataclass(frozen=True)
class Sample:
    image: torch.Tensor
    label: int
    meta: torch.Tensor


def model_sized(path: str, spec: PreprocessSpec) -> np.ndarray:
    """The decoded image after the resize step of the one preprocessing function (uint8 HWC)."""
    return np.asarray(resize(decode_image(path, draft_size=spec.img_size), spec))


class ImageCache:
    """Pre-resized copies (uint8 ``.npy``) of each image, squashed to the model's size.

    The copy is exactly what :func:`dermcad.inference.preprocess.to_array` would resize to, so a
    cached image gives bit-identical input; decoding a large JPEG happens once per dataset, not per
    epoch.
    """

    def __init__(self, root: Path, spec: PreprocessSpec) -> None:
        self.folder = Path(root) / f"{spec.img_size}-{spec.interpolation}"
        self.spec = spec

    def _file(self, path: str) -> Path:
        return self.folder / f"{hashlib.sha1(path.encode()).hexdigest()}.npy"

    def load(self, path: str) -> np.ndarray:
        file = self._file(path)
        if file.is_file():
            return np.asarray(np.load(file))
        array = model_sized(path, self.spec)
        with atomic_writer(file) as handle:  # loader workers may write the same file at once
            np.save(handle, array)
        return array


class ImageTable(Dataset[Sample]):
    """Rows of a dataset index as model inputs: ``(image [3,S,S], label, metadata vector)``."""

    def __init__(
        self,
        frame: pd.DataFrame,
        spec: PreprocessSpec,
        *,
        augmenter: Augmenter | None = None,
        cache: ImageCache | None = None,
        metadata_features: tuple[str, ...] = (),
    ) -> None:
        self.paths = [str(p) for p in frame["path"]]
        self.labels = [int(v) for v in frame["label_idx"]]
        self.sources = (
            [str(v) for v in frame["source"].fillna("")]
            if "source" in frame.columns
            else [""] * len(frame)
        )
        self.spec = spec
        self.augmenter = augmenter
        self.cache = cache
        self.meta = _metadata_matrix(frame, metadata_features)

    def __len__(self) -> int:
        return len(self.paths)

    def load_rgb(self, i: int) -> np.ndarray:
        """The model-sized image, from the cache or not: augmentation sees the same either way."""
        if self.cache is not None:
            return self.cache.load(self.paths[i])
        return model_sized(self.paths[i], self.spec)

    def __getitem__(self, i: int) -> Sample:
        image = self.load_rgb(i)
        if self.augmenter is not None:
            image = self.augmenter(image)
        array = to_array(image, self.spec)
        return Sample(torch.from_numpy(array), self.labels[i], torch.from_numpy(self.meta[i]))


def _metadata_matrix(frame: pd.DataFrame, features: tuple[str, ...]) -> np.ndarray:
    if not features:
        return np.zeros((len(frame), 0), dtype=np.float32)

    def cell(row: pd.Series, key: str) -> str | None:
        value = row.get(key)
        return (
            None
            if value is None or (isinstance(value, float) and np.isnan(value)) or value == ""
            else str(value)
        )

    rows = []
    for _, row in frame.iterrows():
        age_text = cell(row, "age")
        rows.append(
            encode_metadata(
                features, float(age_text) if age_text else None, cell(row, "sex"), cell(row, "site")
            )
        )
    return np.stack(rows)


def collate(samples: list[Sample]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return (
        torch.stack([s.image for s in samples]),
        torch.tensor([s.label for s in samples], dtype=torch.long),
        torch.stack([s.meta for s in samples]),
    )


def worker_seeder(base_seed: int) -> Callable[[int], None]:
    """A ``worker_init_fn`` giving each worker's augmenter its own reproducible stream."""

    def init(worker_id: int) -> None:
        info = torch.utils.data.get_worker_info()
        if info is not None:
            dataset = info.dataset
            augmenter = getattr(dataset, "augmenter", None)
            if augmenter is not None:
                augmenter.seed(int(info.seed % (2**31)))
        np.random.seed((base_seed + worker_id) % (2**31))

    return init


def class_counts(labels: list[int], num_classes: int) -> np.ndarray:
    return np.bincount(np.asarray(labels, dtype=np.int64), minlength=num_classes)


def class_weights(labels: list[int], num_classes: int, kind: str) -> torch.Tensor | None:
    """Loss weights: ``inverse`` (N / (C * n_c)) or ``sqrt-inverse``; absent classes get 0."""
    if kind == "none":
        return None
    counts = class_counts(labels, num_classes).astype(np.float64)
    present = counts > 0
    weights = np.zeros(num_classes)
    weights[present] = counts.sum() / (present.sum() * counts[present])
    if kind == "sqrt-inverse":
        weights = np.sqrt(weights)
    return torch.tensor(weights, dtype=torch.float32)


def balanced_sample_weights(labels: list[int], num_classes: int) -> torch.Tensor:
    """Per-image sampling weights that draw every class equally often."""
    counts = class_counts(labels, num_classes).astype(np.float64)
    return torch.tensor([1.0 / counts[y] for y in labels], dtype=torch.double)


def source_sample_weights(
    labels: list[int], sources: list[str], *, balance_classes: bool
) -> torch.Tensor:
    """Per-image sampling weights that draw every source (collection) equally often; with
    ``balance_classes``, also every class equally often within each source."""
    cells = list(zip(sources, labels, strict=True)) if balance_classes else list(sources)
    per_source = Counter(sources)
    per_cell = Counter(cells)
    classes_in = Counter(source for source, _ in set(zip(sources, labels, strict=True)))
    weights = []
    for source, cell in zip(sources, cells, strict=True):
        share = 1.0 / len(per_source)
        if balance_classes:
            share /= classes_in[source]
        weights.append(share / per_cell[cell])
    return torch.tensor(weights, dtype=torch.double)
