from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from dermcad.errors import UserError
from dermcad.inference.preprocess import PreprocessSpec
from dermcad.models import load_run
from dermcad.training import trainer
from dermcad.training.recipe import load_recipe


def _recipe(index: Path, split: Path, *extra: str):  # type: ignore[no-untyped-def]
    return load_recipe(
        None,
        [
            f"data.index={index}",
            f"data.split={split}",
            "data.img_size=32",
            "data.workers=0",
            "model.net_type=resnet18",
            "batch_size=16",
            "max_batches_per_epoch=2",
            "seed=1",
            *extra,
        ],
    )


@pytest.mark.slow
def test_resume_continues_where_it_stopped(
    tmp_path: Path, synthetic_index: Path, synthetic_split: Path
) -> None:
    run = tmp_path / "run"
    trainer.train(
        _recipe(synthetic_index, synthetic_split, "epochs=2"),
        run,
        progress=False,
        log=lambda _: None,
    )
    first = pd.read_csv(run / "history.csv")
    with pytest.raises(UserError, match="already holds a run"):
        trainer.train(_recipe(synthetic_index, synthetic_split, "epochs=2"), run, progress=False)
    result = trainer.train(
        _recipe(synthetic_index, synthetic_split, "epochs=3"),
        run,
        resume=True,
        progress=False,
        log=lambda _: None,
    )
    history = pd.read_csv(run / "history.csv")
    assert list(history["epoch"]) == [1, 2, 3]
    pd.testing.assert_frame_equal(history.head(2), first)
    assert result.epochs_run == 3
    model, info = load_run(run)
    assert info["best_epoch"] == result.best_epoch
    with torch.no_grad():
        assert model(torch.zeros(1, 3, 32, 32)).shape == (1, 8)
    with pytest.raises(UserError, match="cannot resume"):
        trainer.train(_recipe(synthetic_index, synthetic_split), tmp_path / "new", resume=True)


def test_early_stopping(
    tmp_path: Path, synthetic_index: Path, synthetic_split: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scores = iter([0.7, 0.9, 0.8, 0.85, 0.95])
    monkeypatch.setattr(trainer, "_validation_scores", lambda *a: (next(scores), 0.5))
    lines: list[str] = []
    result = trainer.train(
        _recipe(
            synthetic_index, synthetic_split, "epochs=5", "patience=2", "max_batches_per_epoch=1"
        ),
        tmp_path / "run",
        progress=False,
        log=lines.append,
    )
    assert (result.epochs_run, result.best_epoch, result.best_val_auc) == (4, 2, 0.9)
    assert any("early stop" in line for line in lines)
    assert torch.load(tmp_path / "run" / "best.pt", weights_only=True)["epoch"] == 2


def test_validation_scores_hand_computed() -> None:
    classes = ("other", "melanoma")
    logits = np.array([[0.0, 2.0], [0.0, -1.0], [0.0, 1.0], [0.0, -2.0]])
    labels = np.array([1, 0, 0, 0])
    auc, acc = trainer._validation_scores(classes, logits, labels)
    assert auc == 1.0
    assert acc == pytest.approx(0.75)  # argmax right for rows 0, 1 and 3; row 2 says melanoma


def test_options_train_together(
    tmp_path: Path, synthetic_index: Path, synthetic_split: Path
) -> None:
    """Balanced sampler, CPU bf16 autocast, gradient clipping, channels-last, metadata branch,
    label smoothing and a cached, augmented data path in one short run."""
    recipe = _recipe(
        synthetic_index,
        synthetic_split,
        "epochs=1",
        "max_batches_per_epoch=2",
        "data.sampler=balanced",
        "amp=bf16",
        "grad_clip=1.0",
        "channels_last=true",
        "model.metadata_features=[age, sex, site]",
        "loss.label_smoothing=0.1",
        "data.augment=thesis",
        f"data.cache_dir={tmp_path / 'cache'}",
        "optimizer.name=adam",
    )
    result = trainer.train(recipe, tmp_path / "run", progress=False, log=lambda _: None)
    assert result.epochs_run == 1
    model, info = load_run(tmp_path / "run")
    assert info["model"]["metadata_features"] == ["age", "sex", "site"]
    assert model.classifier_weights() is None
    assert any((tmp_path / "cache").rglob("*.npy"))


def test_transfer_options_train_and_are_recorded(
    tmp_path: Path, synthetic_index: Path, synthetic_split: Path
) -> None:
    """The multi-source options in one short run: source-and-class sampling, the transfer
    augmentation and Shades of Gray, which run.json records for evaluation and export."""
    recipe = _recipe(
        synthetic_index,
        synthetic_split,
        "epochs=1",
        "max_batches_per_epoch=2",
        "data.sampler=sources-classes",
        "data.augment=transfer",
        "data.color_constancy=shades_of_gray",
    )
    result = trainer.train(recipe, tmp_path / "run", progress=False, log=lambda _: None)
    assert result.epochs_run == 1
    _, info = load_run(tmp_path / "run")
    assert info["preprocess"]["color_constancy"] == "shades_of_gray"
    assert PreprocessSpec.from_dict(info["preprocess"]).color_constancy == "shades_of_gray"


def _checkpoint(path: Path) -> dict[str, object]:
    return dict(torch.load(path, map_location="cpu", weights_only=True))


@pytest.mark.slow
def test_weight_average_is_validated_saved_and_resumed(
    tmp_path: Path, synthetic_index: Path, synthetic_split: Path
) -> None:
    """With ``ema_decay`` the average (not the last step's weights) is kept as best.pt;
    ``--resume`` restores it with its step count; resuming a plain run with it is refused."""
    run = tmp_path / "run"
    quiet = {"progress": False, "log": lambda _: None}
    trainer.train(
        _recipe(synthetic_index, synthetic_split, "epochs=1", "ema_decay=0.9"), run, **quiet
    )
    last = _checkpoint(run / "last.pt")
    ema: dict[str, torch.Tensor] = last["ema"]["weights"]  # type: ignore[index]
    raw: dict[str, torch.Tensor] = last["model"]  # type: ignore[assignment]
    assert int(last["ema"]["steps"]) == 2  # type: ignore[index]  # 2 batches
    best: dict[str, torch.Tensor] = _checkpoint(run / "best.pt")["model"]  # type: ignore[assignment]
    assert set(best) == set(ema) == set(raw)
    assert all(torch.equal(best[k], ema[k]) for k in ema)  # epoch 1 is always the best so far
    floats = [k for k in raw if raw[k].is_floating_point() and "weight" in k]
    assert any(not torch.equal(ema[k], raw[k]) for k in floats)  # the average lags the weights
    trainer.train(
        _recipe(synthetic_index, synthetic_split, "epochs=2", "ema_decay=0.9"),
        run,
        resume=True,
        **quiet,
    )
    assert int(_checkpoint(run / "last.pt")["ema"]["steps"]) == 4  # type: ignore[index]
    plain = tmp_path / "plain"
    trainer.train(_recipe(synthetic_index, synthetic_split, "epochs=1"), plain, **quiet)
    with pytest.raises(UserError, match="no weight average"):
        trainer.train(
            _recipe(synthetic_index, synthetic_split, "epochs=2", "ema_decay=0.9"),
            plain,
            resume=True,
            **quiet,
        )
