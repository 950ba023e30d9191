"""Training and evaluation commands: ``train``, ``evaluate``, ``report``, ``augment-preview``,
``import-thesis``, ``ensemble``, ``backbones``. Torch and friends are imported inside the
commands."""

from __future__ import annotations

from pathlib import Path

import typer

from dermcad.cli.errors import reports_user_errors
from dermcad.errors import UserError


@reports_user_errors
def train(
    recipe: Path | None = typer.Argument(
        None, help="Recipe YAML (e.g. configs/thesis/m4.yaml); defaults for every missing key."
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Run directory to create (or resume)."),
    index: Path | None = typer.Option(None, "--index", help="Dataset index CSV (data.index)."),
    split: Path | None = typer.Option(None, "--split", help="Split file JSON (data.split)."),
    overrides: list[str] = typer.Option(
        [], "--set", "-s", help="Override a recipe key: --set optimizer.lr=3e-4 (repeatable)."
    ),
    epochs: int | None = typer.Option(None, "--epochs", min=1, help="Override epochs."),
    batch_size: int | None = typer.Option(None, "--batch-size", min=1, help="Override batch size."),
    device: str | None = typer.Option(None, "--device", help="cpu, cuda, cuda:1 (default: auto)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from RUN/last.pt."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Train a classifier from a recipe; writes the run directory (docs/training.md)."""
    from dermcad.training.recipe import load_recipe
    from dermcad.training.trainer import train as run_training

    extra = [f"data.index={index}"] if index else []
    extra += [f"data.split={split}"] if split else []
    extra += [f"epochs={epochs}"] if epochs else []
    extra += [f"batch_size={batch_size}"] if batch_size else []
    resolved = load_recipe(recipe, [*overrides, *extra])
    result = run_training(resolved, out, resume=resume, device=device, progress=progress)
    if result.is_main:
        typer.echo(
            f"best epoch {result.best_epoch}: val melanoma AUC {result.best_val_auc:.4f}; "
            f"{result.epochs_run} epochs in {result.seconds:.0f} s; run directory {result.run_dir}"
        )


@reports_user_errors
def evaluate(
    run: Path = typer.Argument(..., help="Run directory written by `dermcad train`."),
    splits: list[str] | None = typer.Option(
        None,
        "--split",
        help="Split(s) to evaluate: train, val, test (repeatable). Default: val and test, or "
        "none when --external is given (the stored calibration is then reused).",
    ),
    tta: int = typer.Option(8, "--tta", help="Test-time augmentation views: 1, 4 or 8."),
    external: list[Path] | None = typer.Option(
        None,
        "--external",
        help="Index CSV of an external test set (repeatable; each needs its --name, in order).",
    ),
    name: list[str] | None = typer.Option(
        None, "--name", help="Name of each external set in metrics (repeatable, in order)."
    ),
    index: Path | None = typer.Option(
        None, "--index", help="Index CSV to use instead of the run's (moved data, imported model)."
    ),
    split_file: Path | None = typer.Option(
        None, "--split-file", help="Split file to use instead of the run's (with --index)."
    ),
    min_sensitivity: float = typer.Option(
        0.90, "--min-sensitivity", help="Operating point: threshold for this val sensitivity."
    ),
    n_boot: int = typer.Option(1000, "--bootstrap", min=10, help="Bootstrap resamples for CIs."),
    batch_size: int = typer.Option(64, "--batch-size", min=1, help="Images per forward pass."),
    device: str = typer.Option("cpu", "--device", help="cpu or cuda."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
    guard: Path | None = typer.Option(
        None,
        "--guard",
        help="Model package folder (models/ID) whose out-of-distribution guard to report on every "
        "evaluated set and on the non-dermoscopy set (share refused, AUROC).",
    ),
) -> None:
    """Evaluate a run: TTA, temperature scaling and threshold on val, metrics, plots, CSVs."""
    from dermcad.evaluation.evaluate import EvaluationSettings, evaluate_run

    if tta not in (1, 4, 8):
        raise UserError(f"--tta must be 1, 4 or 8, not {tta}")
    externals, names = external or [], name or []
    if len(externals) != len(names):
        raise UserError("--external and --name go together: give one --name per --external")
    if len(set(names)) != len(names):
        raise UserError("each --name must be different")
    reserved = [n for n in names if n in ("train", "val", "test", "calibration")]
    if reserved:
        raise UserError(f"--name {reserved[0]!r} is reserved; choose another name")
    if splits is None:
        splits = [] if external else ["val", "test"]
    settings = EvaluationSettings(
        splits=tuple(dict.fromkeys(splits)),
        tta=tta,
        external=list(zip(names, externals, strict=True)),
        index=index,
        split_file=split_file,
        min_sensitivity=min_sensitivity,
        n_boot=n_boot,
        batch_size=batch_size,
        device=device,
        progress=progress,
        guard_package=guard,
    )
    evaluate_run(run, settings, log=typer.echo)
    typer.echo(f"wrote {run / 'eval' / 'metrics.json'}")


@reports_user_errors
def report(
    runs: list[Path] = typer.Argument(..., help="Run directories (each evaluated)."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for table3.md and table3.csv."),
) -> None:
    """The thesis' Table 3 for these runs: train/val/test AUC, mean and SD per group."""
    from dermcad.evaluation.report import write_report

    md, csv = write_report(runs, out)
    typer.echo(md.read_text(encoding="utf-8"))
    typer.echo(f"wrote {md} and {csv}")


@reports_user_errors
def augment_preview(
    images: list[Path] = typer.Argument(None, help="Image files to augment."),
    index: Path | None = typer.Option(None, "--index", help="Take the first images of an index."),
    count: int = typer.Option(4, "--count", min=1, help="Images taken from --index."),
    pipeline: str = typer.Option("thesis", "--pipeline", help="none, thesis, light or transfer."),
    img_size: int = typer.Option(256, "--img-size", min=8, help="Model input size."),
    copies: int = typer.Option(7, "--copies", min=1, help="Augmented versions per image."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    out: Path = typer.Option(..., "--out", "-o", help="PNG file to write."),
) -> None:
    """Write a grid PNG: each image, then augmented versions of it."""
    from dermcad.augment import write_preview

    paths = list(images or [])
    if index is not None:
        from dermcad.data.index import read_index

        paths += [Path(p) for p in read_index(index)["path"].head(count)]
    write_preview(paths, out, pipeline, img_size, copies=copies, seed=seed)
    typer.echo(f"wrote {out}")


@reports_user_errors
def import_thesis(
    checkpoint: Path = typer.Argument(..., help="ResNet18_Melanoma .pth.tar from the thesis."),
    out: Path = typer.Option(..., "--out", "-o", help="Run directory to create."),
    img_size: int = typer.Option(256, "--img-size", min=8, help="Input size it was trained at."),
) -> None:
    """Import a thesis checkpoint as a run directory (evaluate and export then work on it)."""
    from dermcad.models.thesis import import_thesis_checkpoint

    typer.echo(f"wrote {import_thesis_checkpoint(checkpoint, out, img_size)}")


@reports_user_errors
def ensemble(
    runs: list[Path] = typer.Argument(..., help="Run directories to combine (two or more)."),
    out: Path = typer.Option(..., "--out", "-o", help="Ensemble run directory to create."),
    name: str = typer.Option(None, "--name", help="Its name (default: the folder's)."),
) -> None:
    """Combine trained runs into one model: the mean of their logits (docs/models.md).

    The runs must share classes, preprocessing, index and split.
    The new run directory holds only run.json, with the members' absolute paths.
    evaluate, report and export work on it as on any run."""
    from dermcad.models.ensemble import make_ensemble

    typer.echo(f"wrote {make_ensemble(runs, out, name)}")


def backbones() -> None:
    """List the registered backbones and their preprocessing (any timm name also works)."""
    from dermcad.models.registry import BACKBONES

    for entry in BACKBONES.values():
        typer.echo(
            f"{entry.name:24s} {entry.img_size:4d} px  {entry.interpolation:8s} "
            f"mean {entry.mean} std {entry.std}  {entry.description}"
        )


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the root app."""
    app.command("train")(train)
    app.command("evaluate")(evaluate)
    app.command("report")(report)
    app.command("augment-preview")(augment_preview)
    app.command("import-thesis")(import_thesis)
    app.command("ensemble")(ensemble)
    app.command("backbones")(backbones)
