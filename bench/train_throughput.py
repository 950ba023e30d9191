"""Training throughput (images/s) on the CPU or a GPU, through dermcad's own loop.

    python bench/train_throughput.py --threads 2 --json bench/results/train_cpu.json
    python bench/train_throughput.py --device cuda --batch 256 --json bench/results/train_gpu.json

The default recipe (``Recipe()``: ResNet18, SGD, the backbone's 256 px, batch 64 unless
``--batch``) trains on synthetic images (speed does not depend on pixel values) with
:func:`dermcad.training.loop.train_epoch`, the function ``dermcad train`` runs. Variants, measured
interleaved (A, B, C, A, B, C): float32 NCHW (the recipe's default), float32 channels_last, and bf16
autocast + channels_last (``amp: bf16``, ``channels_last: true``); on CUDA also fp16 autocast (with
loss scaling) + channels_last. ``--net``/``--size`` measure another backbone (e.g. the shipped
model's ``tf_efficientnet_lite0`` at 224 px). Data loading is not part of these figures (the
tensors are already on the device; ``data.workers`` matters only with real JPEGs).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any


def main() -> None:
    import torch
    from torch.utils.data import DataLoader

    from dermcad.models import build_model
    from dermcad.training.loop import EpochSettings, Precision, train_epoch
    from dermcad.training.optim import Schedule, build_optimizer
    from dermcad.training.recipe import Recipe

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=None, help="default: the recipe's")
    parser.add_argument("--batches", type=int, default=2, help="timed batches per measurement")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--net", default=None, help="backbone (default: the recipe's resnet18)")
    parser.add_argument("--size", type=int, default=None, help="input size (default: 256)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    recipe = Recipe()
    if args.net:
        recipe = Recipe.model_validate({"model": {"net_type": args.net}})
    batch = args.batch or recipe.batch_size
    size = args.size or recipe.data.img_size or 256
    n = batch * (args.batches + 1)
    device = torch.device(args.device)
    gpu = device.type == "cuda"
    if gpu:
        torch.backends.cudnn.benchmark = True
    shape = (batch, 3, size, size)
    samples = [(torch.randn(shape, device=device), torch.arange(batch, device=device) % 8)] * (
        args.batches + 1
    )

    def collate(items: list[Any]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        ((images, labels),) = items  # one pre-made batch per item
        return images, labels, torch.zeros(batch, 0, device=device)

    loader = DataLoader(samples, batch_size=1, collate_fn=collate)  # type: ignore[arg-type]
    variants = {
        "fp32 NCHW": ("none", False),
        "fp32 channels_last": ("none", True),
        "bf16 channels_last": ("bf16", True),
    }
    if gpu:
        variants["fp16 channels_last"] = ("fp16", True)
    results: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(args.rounds):
        for name, (amp, cl) in variants.items():
            model = build_model(recipe.model, load_pretrained=False).to(device)
            if cl:
                model = model.to(memory_format=torch.channels_last)
            optimizer = build_optimizer(model, recipe.optimizer)
            settings = EpochSettings(device, Precision.choose(amp, device), None, 1, cl, False)
            loss_fn = torch.nn.CrossEntropyLoss()
            train_epoch(model, loader, optimizer, Schedule(None, False), loss_fn, settings)  # warm
            settings.max_batches = args.batches + 1
            start = time.perf_counter()
            train_epoch(model, loader, optimizer, Schedule(None, False), loss_fn, settings)
            if gpu:
                torch.cuda.synchronize()
            results[name].append(n / (time.perf_counter() - start))
    where = torch.cuda.get_device_name(device) if gpu else f"{args.threads} CPU threads"
    print(
        f"train_epoch, {recipe.model.net_type} {size} px, batch {batch}, {where}, "
        f"{args.batches + 1} batches per measurement, {args.rounds} rounds interleaved"
    )
    print(f"{'variant':20} {'img/s per round':24} {'median':>7}")
    for name, vals in results.items():
        print(f"{name:20} {', '.join(f'{v:.1f}' for v in vals):24} {statistics.median(vals):7.1f}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "device": where,
                    "net": recipe.model.net_type,
                    "threads": args.threads,
                    "batch": batch,
                    "size": size,
                    "images_per_s": results,
                },
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
