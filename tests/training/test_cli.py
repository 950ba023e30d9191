from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from dermcad.cli.main import app


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "--out", "RUN", "--set", "optimizer.lrr=1"], "optimizer.lrr"),
        (["train", "--out", "RUN"], "--index"),
        (["train", "missing.yaml", "--out", "RUN"], "recipe file not found"),
        (["evaluate", "RUN", "--tta", "3"], "--tta must be 1, 4 or 8"),
        (["evaluate", "RUN", "--external", "x.csv"], "go together"),
        (
            ["evaluate", "RUN", "--external", "a.csv", "--external", "b.csv", "--name", "a"],
            "one --name per",
        ),
        (
            [
                "evaluate",
                "RUN",
                "--external",
                "a.csv",
                "--name",
                "e",
                "--external",
                "b.csv",
                "--name",
                "e",
            ],
            "must be different",
        ),
        (["evaluate", "RUN", "--external", "a.csv", "--name", "test"], "reserved"),
        (["evaluate", "RUN"], "not a dermcad run directory"),
        (["report", "RUN", "--out", "OUT"], "dermcad evaluate"),
        (["augment-preview", "--pipeline", "wild", "--out", "x.png", "y.png"], "unknown augm"),
        (["augment-preview", "--out", "x.png", "y.png"], "y.png: no such image file"),
        (["import-thesis", "nothing.pth.tar", "--out", "RUN"], "does not exist"),
    ],
)
def test_user_errors_are_one_line_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_backbones_lists_the_registry() -> None:
    result = CliRunner().invoke(app, ["backbones"])
    assert result.exit_code == 0
    assert "resnet18" in result.output and "tf_efficientnet_lite0" in result.output
