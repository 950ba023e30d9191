"""``dermcad ingest``, ``dermcad split`` and ``dermcad synthesize`` through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dermcad.cli.main import app
from dermcad.data.index import read_index
from dermcad.data.splits import load_split

from .helpers import write_csv, write_jpegs

HAM_HEADER = ("lesion_id", "image_id", "dx", "dx_type", "age", "sex", "localization")
runner = CliRunner()


def _ham(tmp_path: Path, rows: list[tuple[str, ...]] | None = None) -> tuple[Path, Path]:
    rows = rows or [
        ("HAM_1", "ISIC_1", "mel", "histo", "50", "male", "back"),
        ("HAM_2", "ISIC_2", "nv", "histo", "40", "female", "face"),
        ("HAM_3", "ISIC_3", "nv", "histo", "40", "female", "face"),
    ]
    write_jpegs(tmp_path / "images", [r[1] for r in rows if r[1] != "ISIC_9"])
    return write_csv(tmp_path / "HAM10000_metadata.csv", HAM_HEADER, rows), tmp_path / "images"


def _one_error_line(result: object, *needles: str) -> None:
    assert result.exit_code == 2  # type: ignore[attr-defined]
    lines = result.stderr.strip().splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 1, lines
    assert lines[0].startswith("dermcad: error: ")
    for needle in needles:
        assert needle in lines[0]
    assert "Traceback" not in result.output  # type: ignore[attr-defined]


def test_ingest_ham10000_prints_the_table_and_writes_index_and_summary(tmp_path: Path) -> None:
    meta, images = _ham(tmp_path)
    out = tmp_path / "out" / "ham.csv"
    args = ["ingest", "ham10000", "--metadata", str(meta), "--images", str(images)]
    result = runner.invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "melanoma" in result.stdout and "missing_file" in result.stdout
    frame = read_index(out)
    assert frame["label"].tolist() == ["melanoma", "nevus", "nevus"]
    summary = json.loads((tmp_path / "out" / "ham.summary.json").read_text())
    assert summary["classes"]["nevus"] == 2
    assert summary["excluded"]["missing_file"] == 0


def test_every_command_has_help() -> None:
    verbs = ["ham10000", "isic2019", "isic2018", "isic2020", "isic-archive", "folders", "merge"]
    for command in [["ingest", v] for v in verbs] + [["split"], ["synthesize"]]:
        result = runner.invoke(app, [*command, "--help"])
        assert result.exit_code == 0
        assert "--out" in result.stdout


def test_csv_missing_columns_one_line_no_index(tmp_path: Path) -> None:
    meta = write_csv(tmp_path / "meta.csv", ("image_id", "dx"), [("ISIC_1", "mel")])
    write_jpegs(tmp_path / "images", ["ISIC_1"])
    out = tmp_path / "index.csv"
    result = runner.invoke(
        app,
        [
            "ingest",
            "ham10000",
            "--metadata",
            str(meta),
            "--images",
            str(tmp_path / "images"),
            "--out",
            str(out),
        ],
    )
    _one_error_line(result, "meta.csv", "lesion_id")
    assert not out.exists()


def test_missing_folder_one_line(tmp_path: Path) -> None:
    meta, _ = _ham(tmp_path)
    out = tmp_path / "index.csv"
    args = ["ingest", "ham10000", "--metadata", str(meta), "--images", str(tmp_path / "nope")]
    _one_error_line(runner.invoke(app, [*args, "--out", str(out)]), "nope", "not found")
    assert not out.exists()


def test_unreadable_csv_one_line(tmp_path: Path) -> None:
    gt = tmp_path / "gt.csv"
    gt.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe binary")
    (tmp_path / "img").mkdir()
    out = tmp_path / "index.csv"
    args = ["ingest", "isic2019", "--ground-truth", str(gt), "--images", str(tmp_path / "img")]
    _one_error_line(runner.invoke(app, [*args, "--out", str(out)]), "gt.csv")
    assert not out.exists()


def test_empty_result_one_line_no_index(tmp_path: Path) -> None:
    rows = [("HAM_9", "ISIC_9", "mel", "histo", "50", "male", "back")]
    meta, images = _ham(tmp_path, rows)
    images.mkdir(exist_ok=True)
    out = tmp_path / "index.csv"
    args = ["ingest", "ham10000", "--metadata", str(meta), "--images", str(images)]
    _one_error_line(runner.invoke(app, [*args, "--out", str(out)]), "no images", "missing_file 1")
    assert not out.exists()
    assert not (tmp_path / "index.summary.json").exists()


def test_strict_makes_a_missing_file_an_error(tmp_path: Path) -> None:
    rows = [
        ("HAM_1", "ISIC_1", "mel", "histo", "50", "male", "back"),
        ("HAM_9", "ISIC_9", "nv", "histo", "50", "male", "back"),
    ]
    meta, images = _ham(tmp_path, rows)
    out = tmp_path / "index.csv"
    args = ["ingest", "ham10000", "--metadata", str(meta), "--images", str(images)]
    _one_error_line(runner.invoke(app, [*args, "--out", str(out), "--strict"]), "--strict")
    assert not out.exists()
    lenient = runner.invoke(app, [*args, "--out", str(out)])
    assert lenient.exit_code == 0
    assert read_index(out)["image_id"].tolist() == ["ISIC_1"]


def test_classes_must_be_8_or_9(tmp_path: Path) -> None:
    meta, images = _ham(tmp_path)
    args = ["ingest", "ham10000", "--metadata", str(meta), "--images", str(images)]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "i.csv"), "--classes", "7"])
    assert result.exit_code == 2
    assert not (tmp_path / "i.csv").exists()


def test_folders_and_merge_commands(tmp_path: Path) -> None:
    write_jpegs(tmp_path / "root" / "MEL", ["a", "b"])
    write_jpegs(tmp_path / "root" / "nevus", ["c"])
    first = tmp_path / "one.csv"
    result = runner.invoke(
        app, ["ingest", "folders", "--root", str(tmp_path / "root"), "--out", str(first)]
    )
    assert result.exit_code == 0, result.output
    merged = tmp_path / "merged" / "all.csv"
    result = runner.invoke(app, ["ingest", "merge", str(first), str(first), "--out", str(merged)])
    assert result.exit_code == 0, result.output
    assert sorted(read_index(merged)["image_id"]) == ["a", "b", "c"]
    summary = json.loads((tmp_path / "merged" / "all.summary.json").read_text())
    assert summary["excluded"]["duplicate_id"] == 3


def test_synthesize_then_split(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["synthesize", "--out", str(tmp_path / "syn"), "--n", "60", "--size", "32"]
    )
    assert result.exit_code == 0, result.output
    index = tmp_path / "syn" / "index.csv"
    frame = read_index(index)
    assert len(frame) == 60
    out = tmp_path / "split.json"
    args = ["split", str(index), "--out", str(out), "--holdout", "0.6", "0.2", "0.2"]
    result = runner.invoke(app, [*args, "--seed", "3", "--group", "patient"])
    assert result.exit_code == 0, result.output
    split = load_split(out, frame)
    assert (split.seed, split.group_by, split.fractions) == (3, "patient", (0.6, 0.2, 0.2))
    folds = tmp_path / "folds.json"
    result = runner.invoke(app, ["split", str(index), "--out", str(folds), "--folds", "3"])
    assert result.exit_code == 0, result.output
    assert load_split(folds, frame).names == ("0", "1", "2")


def test_split_errors_are_one_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["split", str(tmp_path / "none.csv"), "--out", str(tmp_path / "s")])
    _one_error_line(result, "none.csv", "not found")
    make = runner.invoke(app, ["synthesize", "--out", str(tmp_path / "syn"), "--n", "20"])
    assert make.exit_code == 0
    args = ["split", str(tmp_path / "syn" / "index.csv"), "--out", str(tmp_path / "s.json")]
    _one_error_line(runner.invoke(app, [*args, "--group", "hospital"]), "hospital")
    _one_error_line(runner.invoke(app, [*args, "--holdout", "0.5", "0.5", "0.5"]), "sum to 1")
    assert not (tmp_path / "s.json").exists()


@pytest.mark.realdata
def test_ingest_shared_ham10000_and_isic2019(shared_data: Path, tmp_path: Path) -> None:
    ham = shared_data / "ham10000-200x150"
    result = runner.invoke(
        app,
        [
            "ingest",
            "ham10000",
            "--metadata",
            str(ham / "HAM10000_metadata.csv"),
            "--images",
            str(ham / "images"),
            "--out",
            str(tmp_path / "ham.csv"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "10015" in result.stdout
    real = shared_data / "isic-real"
    result = runner.invoke(
        app,
        [
            "ingest",
            "isic2019",
            "--ground-truth",
            str(real / "ground_truth" / "ISIC_2019_Training_GroundTruth.csv"),
            "--images",
            str(real / "images"),
            "--out",
            str(tmp_path / "isic.csv"),
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "isic.summary.json").read_text())
    assert summary["excluded"]["missing_file"] > 0
    assert summary["n_images"] == len(read_index(tmp_path / "isic.csv"))
