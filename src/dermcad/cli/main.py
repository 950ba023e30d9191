"""Entry point of the ``dermcad`` command.

Each stage registers its commands from its own module. Command modules import nothing heavy at
module level (no torch, no onnxruntime): ``dermcad --help`` and the serving commands must work
on a base install without the training extra.
"""

from __future__ import annotations

import typer

from dermcad import __version__
from dermcad.cli import data_commands, serve_commands, train_commands, worker_commands

app = typer.Typer(
    name="dermcad",
    help=(
        "Computer-aided diagnosis of melanoma on dermoscopy images: ingest ISIC data, split it by "
        "patient, train and evaluate classifiers, publish them as ONNX packages and serve them. "
        "An assistive tool for clinicians, not a diagnosis and not a medical device."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"dermcad {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """dermcad."""


for module in (data_commands, train_commands, serve_commands, worker_commands):
    module.register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
