from __future__ import annotations

import math

import pytest
import torch

from dermcad.training.optim import build_optimizer, build_schedule, warmup_cosine_factor
from dermcad.training.recipe import OptimizerSection, SchedulerSection


def _lrs(section: SchedulerSection, epochs: int, batches: int) -> list[float]:
    model = torch.nn.Linear(2, 2)
    optimizer = build_optimizer(model, OptimizerSection(name="sgd", lr=1.0))
    schedule = build_schedule(
        optimizer, section, epochs=epochs, batches_per_epoch=batches, base_lr=1.0
    )
    seen = []
    for _ in range(epochs):
        for _ in range(batches):
            seen.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            schedule.after_batch()
        schedule.after_epoch()
    return seen


def test_step_schedule_per_epoch() -> None:
    lrs = _lrs(SchedulerSection(name="step", step_size=2, gamma=0.5), epochs=5, batches=2)
    per_epoch = lrs[::2]
    assert per_epoch == pytest.approx([1.0, 1.0, 0.5, 0.5, 0.25])


def test_cosine_reaches_eta_min_at_t_max() -> None:
    lrs = _lrs(SchedulerSection(name="cosine", t_max=4, eta_min=0.1), epochs=5, batches=1)
    # eta_min + (1 - eta_min) * (1 + cos(pi * e / 4)) / 2 for e = 0..4
    expected = [0.1 + 0.9 * (1 + math.cos(math.pi * e / 4)) / 2 for e in range(5)]
    assert lrs == pytest.approx(expected)


def test_warm_restarts_restart() -> None:
    lrs = _lrs(SchedulerSection(name="cosine-warm-restarts", t_0=2, eta_min=0.0), 4, 1)
    assert lrs == pytest.approx([1.0, 0.5, 1.0, 0.5])


def test_warmup_then_cosine_per_batch() -> None:
    lrs = _lrs(SchedulerSection(name="warmup-cosine", warmup_epochs=1, warmup_factor=0.1), 3, 4)
    assert lrs[0] == pytest.approx(0.1)
    assert lrs[2] == pytest.approx(0.1 + 0.9 * 2 / 4)
    assert lrs[4] == pytest.approx(1.0)  # warm-up done, cosine starts at the peak
    assert lrs[-1] < 0.05
    assert warmup_cosine_factor(100, 10, 2, 0.1, 0.01) == pytest.approx(0.01)


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw"])
def test_optimizers(name: str) -> None:
    model = torch.nn.Linear(2, 2)
    optimizer = build_optimizer(model, OptimizerSection(name=name, lr=0.01, weight_decay=0.1))
    assert type(optimizer).__name__.lower() == name
    assert optimizer.param_groups[0]["weight_decay"] == 0.1
