"""Every ``dermcad`` command line in the README and docs/ names a command and options that exist.

The docs are part of the interface: a renamed option must fail here, not in a reader's shell.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dermcad.cli.main import app

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
COMMAND = re.compile(r"dermcad ([a-z][a-z-]*)((?: [^`|;&]*)?)")
OPTION = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*)")


@functools.cache
def _help(command: str) -> tuple[str, int]:
    result = CliRunner().invoke(app, [*command.split(), "--help"], env={"COLUMNS": "250"})
    return result.output, result.exit_code


def _command_lines() -> list[tuple[str, str, str]]:
    """``(doc, command, rest of the line)`` for every ``dermcad <command>`` in the docs."""
    found = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8").replace("\\\n", " ")
        for line in text.splitlines():
            for match in COMMAND.finditer(line):
                found.append((doc.relative_to(ROOT).as_posix(), match[1], match[2]))
    return found


def test_the_docs_name_commands() -> None:
    commands = {command for _, command, _ in _command_lines()}
    assert {"ingest", "split", "train", "evaluate", "export", "serve"} <= commands


@pytest.mark.parametrize("doc", [d.relative_to(ROOT).as_posix() for d in DOCS])
def test_documented_options_exist(doc: str) -> None:
    problems = []
    for where, command, rest in _command_lines():
        if where != doc or _help(command)[1] != 0:
            continue  # prose such as "dermcad assists clinicians"
        full = command
        sub = re.match(r" ([a-z][a-z0-9-]*)", rest)
        if sub and "Commands" in _help(command)[0]:
            full = f"{command} {sub[1]}"
        text, code = _help(full)
        if code != 0:
            problems.append(f"`dermcad {full}` has no --help")
            continue
        problems += [
            f"`dermcad {full}` has no {opt}" for opt in OPTION.findall(rest) if opt not in text
        ]
    assert not problems, f"{doc}: " + "; ".join(sorted(set(problems)))
