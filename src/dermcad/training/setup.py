"""Everything a run needs before its first epoch: devices, processes, data and loaders."""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, DistributedSampler, WeightedRandomSampler

from dermcad.augment import Augmenter
from dermcad.errors import UserError
from dermcad.inference.preprocess import PreprocessSpec
from dermcad.training.data import (
    ImageCache,
    ImageTable,
    balanced_sample_weights,
    collate,
    source_sample_weights,
    worker_seeder,
)
from dermcad.training.recipe import Recipe


@dataclass(frozen=True)
class Dist:
    """The process group (``torchrun`` sets RANK, WORLD_SIZE, LOCAL_RANK)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed() -> Dist:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    import torch.distributed as dist

    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend)
    return Dist(dist.get_rank(), world, int(os.environ.get("LOCAL_RANK", "0")))


def choose_device(requested: str | None, dist: Dist) -> torch.device:
    if requested:
        return torch.device(requested)
    if torch.cuda.is_available():
        torch.cuda.set_device(dist.local_rank)
        return torch.device("cuda", dist.local_rank)
    return torch.device("cpu")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


@dataclass
class SplitFrames:
    train: pd.DataFrame
    val: pd.DataFrame
    index_path: Path
    split_path: Path
    fingerprint: str
    scheme: str
    dropped: dict[str, int]


def _relabel(frame: pd.DataFrame, classes: tuple[str, ...]) -> tuple[pd.DataFrame, dict[str, int]]:
    known = frame["label"].isin(classes)
    dropped = frame.loc[~known, "label"].value_counts().to_dict()
    kept = frame.loc[known].copy()
    kept["label_idx"] = [classes.index(v) for v in kept["label"]]
    return kept.reset_index(drop=True), {str(k): int(v) for k, v in dropped.items()}


def load_split_frames(recipe: Recipe) -> SplitFrames:
    """Training and validation rows of the recipe's index and split file."""
    from dermcad.data.index import index_fingerprint, read_index
    from dermcad.data.run_split import split_parts
    from dermcad.data.splits import load_split

    if recipe.data.index is None or recipe.data.split is None:
        raise UserError("the recipe names no data: give --index INDEX.csv and --split SPLIT.json")
    frame = read_index(recipe.data.index)
    split = load_split(recipe.data.split, frame)
    if split.scheme == "kfold" and recipe.data.fold is None:
        raise UserError(f"{recipe.data.split} is a k-fold split: give data.fold=<k>")
    parts = split_parts(frame, split, recipe.data.fold)
    for name in ("train", "val"):
        if name not in parts:
            raise UserError(f"no split named {name!r}; this split has {', '.join(sorted(parts))}")
    train, val = parts["train"], parts["val"]
    train, dropped = _relabel(train, recipe.model.classes)
    val, dropped_val = _relabel(val, recipe.model.classes)
    for key, n in dropped_val.items():
        dropped[key] = dropped.get(key, 0) + n
    if len(train) == 0 or len(val) == 0:
        raise UserError(f"{recipe.data.split}: the training or validation split is empty")
    return SplitFrames(
        train,
        val,
        Path(recipe.data.index),
        Path(recipe.data.split),
        index_fingerprint(frame),
        split.scheme,
        dropped,
    )


def make_tables(
    recipe: Recipe, frames: SplitFrames, spec: PreprocessSpec
) -> tuple[ImageTable, ImageTable]:
    cache = ImageCache(recipe.data.cache_dir, spec) if recipe.data.cache_dir else None
    augmenter = (
        Augmenter(recipe.data.augment, spec.img_size, spec.interpolation)
        if recipe.data.augment != "none"
        else None
    )
    if augmenter is not None:
        augmenter.seed(recipe.seed)
    features = recipe.model.metadata_features
    train = ImageTable(
        frames.train, spec, augmenter=augmenter, cache=cache, metadata_features=features
    )
    val = ImageTable(frames.val, spec, cache=cache, metadata_features=features)
    return train, val


def make_loaders(
    recipe: Recipe, train: ImageTable, val: ImageTable, dist: Dist, pin: bool
) -> tuple[DataLoader[Any], DataLoader[Any], DistributedSampler[Any] | None]:
    workers = recipe.data.workers
    common: dict[str, Any] = {
        "num_workers": workers,
        "collate_fn": collate,
        "pin_memory": pin,
        "persistent_workers": workers > 0,
    }
    generator = torch.Generator().manual_seed(recipe.seed)
    sampler: Any = None
    dist_sampler: DistributedSampler[Any] | None = None
    if recipe.data.sampler != "shuffle":
        if dist.enabled:
            raise UserError(
                f"the {recipe.data.sampler} sampler is not supported with several processes"
            )
        if recipe.data.sampler == "balanced":
            weights = balanced_sample_weights(train.labels, recipe.model.num_classes)
        else:
            weights = source_sample_weights(
                train.labels,
                train.sources,
                balance_classes=recipe.data.sampler == "sources-classes",
            )
        sampler = WeightedRandomSampler(
            weights.tolist(), len(train), replacement=True, generator=generator
        )
    elif dist.enabled:
        dist_sampler = DistributedSampler(train, dist.world_size, dist.rank, seed=recipe.seed)
        sampler = dist_sampler
    train_loader = DataLoader(
        train,
        batch_size=recipe.batch_size,
        shuffle=sampler is None,
        sampler=sampler,
        drop_last=len(train) > recipe.batch_size,
        generator=generator,
        worker_init_fn=worker_seeder(recipe.seed + 1000 * dist.rank),
        **common,
    )
    val_loader = DataLoader(
        val, batch_size=recipe.eval_batch_size or recipe.batch_size, shuffle=False, **common
    )
    return train_loader, val_loader, dist_sampler
