"""The data and training stages of the ``dermcad`` CLI alone, for machines without the serving
stack (a GPU box with only PyTorch): ``python3 bench/dermcad_stages.py ingest|split|train``.

The full CLI root also registers the serving commands, whose help text imports pydantic-settings
(and python-dotenv); this entry point needs neither.
"""

from __future__ import annotations

import typer

from dermcad.cli import data_commands, train_commands


def main() -> None:
    app = typer.Typer(
        name="dermcad", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False
    )
    data_commands.register(app)
    train_commands.register(app)
    app()


if __name__ == "__main__":
    main()
