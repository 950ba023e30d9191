"""How the CLI reports a user's mistake: one clear line on stderr and a non-zero exit."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NoReturn, ParamSpec, TypeVar

import typer

from dermcad.errors import UserError

P = ParamSpec("P")
T = TypeVar("T")


def fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"dermcad: error: {message}", err=True)
    raise typer.Exit(code)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn :class:`UserError` (and image errors) into one line on stderr and exit status 2."""
    from dermcad.inference.preprocess import ImageError

    try:
        yield
    except (UserError, ImageError) as exc:
        fail(str(exc))


def reports_user_errors(func: Callable[P, T]) -> Callable[P, T]:
    """Decorator form of :func:`user_errors` for command functions."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        with user_errors():
            return func(*args, **kwargs)

    return wrapper
