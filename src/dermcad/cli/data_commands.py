"""Data stage commands: ``dermcad ingest <format>``, ``dermcad split``, ``dermcad synthesize``.

Thin: each parses its options, calls one function of :mod:`dermcad.data` and prints the result.
Library modules are imported inside the commands so ``dermcad --help`` stays fast.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from dermcad.cli.errors import reports_user_errors
from dermcad.errors import UserError

if TYPE_CHECKING:
    from dermcad.data.readers.common import IngestResult

ingest_app = typer.Typer(
    help=(
        "Read a dataset in one of the ISIC formats (or a folder per class) and write a dataset "
        "index: one CSV row per image, with its class, patient, lesion and metadata, plus "
        "INDEX.summary.json with counts per class and per reason an image was left out."
    ),
    no_args_is_help=True,
)

IMAGES = typer.Option(..., "--images", help="Folder holding the images (searched recursively).")
OUT = typer.Option(..., "--out", "-o", help="Index CSV to write (its summary goes beside it).")
CLASSES = typer.Option(
    8, "--classes", min=8, max=9, help="8 classes, or 9 to keep unknown/other diagnoses."
)
STRICT = typer.Option(
    False,
    "--strict",
    help="Exit non-zero, writing nothing, if any image is missing, unreadable, duplicated or "
    "has conflicting labels (excluded diagnoses are not problems).",
)
IMAGES = typer.Option(..., "--images", help="Folder holding the images (searched recursively).")
VERIFY = typer.Option(
    False,
    "--verify-images",
    help="Fully decode every image (slow) instead of only reading its header.",
)


def _ingest(
    read: Callable[[], IngestResult], out: Path, strict: bool, inputs: dict[str, Any]
) -> None:
    from dermcad.data import ingest

    started = time.perf_counter()
    result = read()
    summary = ingest.summarize(result, inputs)
    typer.echo(ingest.format_summary(summary))
    ingest.check(result, out, strict=strict)
    index_path, summary_path = ingest.save(result, out, summary)
    seconds = time.perf_counter() - started
    typer.echo(
        f"\nwrote {index_path} ({len(result.frame)} images) and {summary_path} in {seconds:.1f} s"
    )


@ingest_app.command("ham10000")
@reports_user_errors
def ingest_ham10000(
    metadata: Path = typer.Option(..., "--metadata", help="HAM10000_metadata.csv"),
    images: Path = IMAGES,
    out: Path = OUT,
    classes: int = CLASSES,
    strict: bool = STRICT,
    verify_images: bool = VERIFY,
) -> None:
    """HAM10000: metadata CSV (lesion_id,image_id,dx,...) and its image folder(s)."""
    from dermcad.data.readers.ham10000 import read_ham10000

    def read() -> IngestResult:
        return read_ham10000(metadata, images, num_classes=classes, verify_images=verify_images)

    _ingest(read, out, strict, {"metadata": metadata, "images": images, "classes": classes})


@ingest_app.command("isic2019")
@reports_user_errors
def ingest_isic2019(
    ground_truth: Path = typer.Option(
        ..., "--ground-truth", help="ISIC_2019_Training_GroundTruth.csv"
    ),
    images: Path = IMAGES,
    out: Path = OUT,
    metadata: Path | None = typer.Option(
        None, "--metadata", help="ISIC_2019_Training_Metadata.csv (lesion id, sex, age, site)."
    ),
    classes: int = CLASSES,
    strict: bool = STRICT,
    verify_images: bool = VERIFY,
) -> None:
    """ISIC 2019: one-hot ground truth (MEL..SCC, UNK); only images present get rows."""
    from dermcad.data.readers.isic2019 import read_isic2019

    def read() -> IngestResult:
        return read_isic2019(
            ground_truth,
            images,
            metadata=metadata,
            num_classes=classes,
            verify_images=verify_images,
        )

    inputs = {"ground_truth": ground_truth, "images": images, "metadata": metadata}
    _ingest(read, out, strict, {**inputs, "classes": classes})


@ingest_app.command("isic2017")
@reports_user_errors
def ingest_isic2017(
    ground_truth: Path = typer.Option(
        ...,
        "--ground-truth",
        help="Folder holding ISIC-2017_<Training|Validation|Test_v2>_Part3_GroundTruth.csv (and "
        "the ..._Data_metadata.csv beside each), or one such file.",
    ),
    images: Path = IMAGES,
    out: Path = OUT,
    strict: bool = STRICT,
    verify_images: bool = VERIFY,
) -> None:
    """ISIC 2017 part 3: melanoma / seborrheic keratosis (-> BKL) / nevus, each image keeping its
    challenge split (train, val, test) for `dermcad split --by-source`."""
    from dermcad.data.readers.isic2017 import read_isic2017

    def read() -> IngestResult:
        source = ground_truth if ground_truth.is_dir() else [ground_truth]
        return read_isic2017(source, images, verify_images=verify_images)

    _ingest(read, out, strict, {"ground_truth": ground_truth, "images": images})


@ingest_app.command("isic2018")
@reports_user_errors
def ingest_isic2018(
    ground_truth: Path = typer.Option(
        ..., "--ground-truth", help="ISIC2018_Task3_Training_GroundTruth.csv"
    ),
    images: Path = IMAGES,
    out: Path = OUT,
    ham_metadata: Path | None = typer.Option(
        None, "--ham-metadata", help="HAM10000_metadata.csv, for lesion ids (optional)."
    ),
    classes: int = CLASSES,
    strict: bool = STRICT,
    verify_images: bool = VERIFY,
) -> None:
    """ISIC 2018 task 3: one-hot ground truth (MEL,NV,BCC,AKIEC,BKL,DF,VASC)."""
    from dermcad.data.readers.isic2018 import read_isic2018

    def read() -> IngestResult:
        return read_isic2018(
            ground_truth,
            images,
            ham_metadata=ham_metadata,
            num_classes=classes,
            verify_images=verify_images,
        )

    inputs = {"ground_truth": ground_truth, "images": images, "ham_metadata": ham_metadata}
    _ingest(read, out, strict, {**inputs, "classes": classes})


@ingest_app.command("isic2020")
@reports_user_errors
def ingest_isic2020(
    metadata: Path = typer.Option(..., "--metadata", help="The ISIC 2020 train.csv"),
    images: Path = IMAGES,
    out: Path = OUT,
    classes: int = CLASSES,
    strict: bool = STRICT,
    verify_images: bool = VERIFY,
) -> None:
    """ISIC 2020: train.csv with patient ids; 'unknown' diagnoses are excluded (or kept with 9)."""
    from dermcad.data.readers.isic2020 import read_isic2020

    def read() -> IngestResult:
        return read_isic2020(metadata, images, num_classes=classes, verify_images=verify_images)

    _ingest(read, out, strict, {"metadata": metadata, "images": images, "classes": classes})


@ingest_app.command("isic-archive")
@reports_user_errors
def ingest_isic_archive(
    download_dir: Path = typer.Option(
        ...,
        "--download-dir",
        help="Folder written by `isic image download` (images + metadata.csv).",
    ),
    out: Path = OUT,
    classes: int = CLASSES,
    strict: bool = STRICT,
    verify_images: bool = VERIFY,
) -> None:
    """ISIC Archive download: classes from the diagnosis_1..5 hierarchy (deepest known level)."""
    from dermcad.data.readers.isic_archive import read_isic_archive

    def read() -> IngestResult:
        return read_isic_archive(download_dir, num_classes=classes, verify_images=verify_images)

    _ingest(read, out, strict, {"download_dir": download_dir, "classes": classes})


@ingest_app.command("folders")
@reports_user_errors
def ingest_folders(
    root: Path = typer.Option(..., "--root", help="Folder with one sub-folder per class."),
    out: Path = OUT,
    classes: int = CLASSES,
    strict: bool = STRICT,
    verify_images: bool = VERIFY,
) -> None:
    """A folder per class, named by class (melanoma, MEL, nevus, basal_cell_carcinoma, ...)."""
    from dermcad.data.readers.folders import read_folders

    def read() -> IngestResult:
        return read_folders(root, num_classes=classes, verify_images=verify_images)

    _ingest(read, out, strict, {"root": root, "classes": classes})


@ingest_app.command("merge")
@reports_user_errors
def ingest_merge(
    indexes: list[Path] = typer.Argument(..., help="Index CSVs to merge; the first wins ties."),
    out: Path = OUT,
    strict: bool = STRICT,
) -> None:
    """Union of indexes: each image id kept once; images with conflicting labels left out."""
    from dermcad.data.readers.merge import read_merge

    def read() -> IngestResult:
        return read_merge(indexes)

    _ingest(read, out, strict, {"indexes": ", ".join(str(p) for p in indexes)})


@reports_user_errors
def split(
    index: Path = typer.Argument(..., help="Dataset index CSV."),
    out: Path = typer.Option(..., "--out", "-o", help="Split file (JSON) to write."),
    holdout: tuple[float, float, float] | None = typer.Option(
        None, "--holdout", help="Train, validation and test fractions [default: 0.8 0.1 0.1]."
    ),
    folds: int | None = typer.Option(
        None, "--folds", min=2, help="Make a k-fold split with this many folds instead."
    ),
    seed: int = typer.Option(42, "--seed", help="Random seed; the same seed gives the same split."),
    group: str = typer.Option(
        "auto",
        "--group",
        help="Keep together images of one patient, lesion or image; auto: patient, else lesion, "
        "else image.",
    ),
    by_source: bool = typer.Option(
        False,
        "--by-source",
        help="Holdout only: deal each source on its own (a source gets the split it would get "
        "alone) and keep each image's official split where its source publishes one (ISIC 2017).",
    ),
) -> None:
    """Stratified, grouped holdout or k-fold split of an index (no group on two sides)."""
    from dermcad.data import splits
    from dermcad.data.index import read_index

    if folds is not None and holdout is not None:
        raise UserError("give either --holdout or --folds, not both")
    if folds is not None and by_source:
        raise UserError("--by-source makes a holdout split; it cannot be combined with --folds")
    frame = read_index(index)
    if folds is not None:
        assignment = splits.split_kfold(frame, folds, seed=seed, group_by=group)
        path = splits.write_split(out, frame, assignment, seed=seed, group_by=group, folds=folds)
    else:
        fractions = holdout or (0.8, 0.1, 0.1)
        deal = splits.split_holdout_by_source if by_source else splits.split_holdout
        assignment = deal(frame, fractions, seed=seed, group_by=group)
        path = splits.write_split(
            out,
            frame,
            assignment,
            seed=seed,
            group_by=group,
            fractions=fractions,
            by_source=by_source,
        )
    counts = splits.split_counts(frame, assignment)
    for name in sorted(counts, key=lambda n: (n not in ("train", "val", "test"), n)):
        per_class = ", ".join(f"{c} {n}" for c, n in counts[name].items())
        typer.echo(f"{name:<6} {sum(counts[name].values()):>7}  ({per_class})")
    typer.echo(f"wrote {path}")


@reports_user_errors
def synthesize(
    out: Path = typer.Option(
        ..., "--out", "-o", help="Folder to write images/ and index.csv into."
    ),
    n: int = typer.Option(400, "--n", min=8, help="Number of images (at least one per class)."),
    size: int = typer.Option(64, "--size", min=16, help="Image side in pixels."),
    seed: int = typer.Option(0, "--seed", help="Random seed; the same seed gives the same data."),
) -> None:
    """Write a synthetic, learnable lesion-like dataset (for tests and benchmarks, not models)."""
    from dermcad.data.synthetic import make_synthetic_dataset

    started = time.perf_counter()
    index_path = make_synthetic_dataset(out, n, image_size=size, seed=seed)
    typer.echo(f"wrote {n} images and {index_path} in {time.perf_counter() - started:.1f} s")


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the root app."""
    app.add_typer(ingest_app, name="ingest")
    app.command("split")(split)
    app.command("synthesize")(synthesize)
