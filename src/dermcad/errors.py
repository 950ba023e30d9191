"""Errors shared by every stage."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


class UserError(Exception):
    """An error caused by the input a user gave (a file, a flag, a configuration, a request).

    The library raises it with a message that names the file or value and the problem; the CLI
    prints ``dermcad: error: <message>`` and exits with status 2; the API answers a 4xx.
    """


def describe_errors(errors: Iterable[Mapping[str, Any]], *, env_prefix: str | None = None) -> str:
    """pydantic validation errors as one line: ``model.head: Input should be ...; epochs: ...``.

    With ``env_prefix`` each location is written as the environment variable that sets it
    (``DERMCAD_PORT``), for settings read from the environment.
    """
    parts = []
    for err in errors:
        location = ".".join(str(part) for part in err.get("loc", ()))
        if env_prefix is not None:
            location = f"{env_prefix}{location.upper()}"
        parts.append(f"{location or '(top)'}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)
