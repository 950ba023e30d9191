"""Writing a file so that a reader never sees half of it: a temporary file, then a rename.

The one helper for every writer outside torch code (indexes, splits, run records, metrics,
predictions, plots, caches, ONNX files). The temporary file lives in the target's folder (a
rename never crosses file systems), starts with a dot, and is removed when the write fails; the
file gets the permissions a plain ``open(path, "wb")`` would give it (the umask applies).
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO


def _create_temporary(path: Path) -> tuple[int, Path]:
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), tmp
        except FileExistsError:  # pragma: no cover - 48 random bits collided
            continue


@contextmanager
def atomic_writer(path: Path) -> Iterator[BinaryIO]:
    """A binary handle whose content replaces ``path`` when the ``with`` block ends without an
    exception; on an exception, ``path`` is left as it was and the temporary file is removed.
    The folder is created if missing."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temporary(path)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder (created if missing)."""
    with atomic_writer(path) as handle:
        handle.write(data)


def write_text_atomic(path: Path, text: str) -> None:
    """:func:`write_bytes_atomic` for UTF-8 text (newlines written as given)."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: Path, data: Any, *, indent: int = 2) -> None:
    """``data`` as indented JSON (keys in their order, a final newline), written atomically."""
    write_text_atomic(path, json.dumps(data, indent=indent) + "\n")
