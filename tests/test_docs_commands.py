"""Every command line in the README and docs/ names a command and options that exist.

The docs are part of the interface: a renamed option must fail here, not in a reader's shell.
Commands are read from code only (fenced blocks and inline code spans), so prose such as
"dermcad assists clinicians" is not a command, and a ``dermcad <word>`` in code that is no
command fails. A ``python bench/...`` or ``bash bench/...`` script must exist and accept each
option the line gives it. A fenced block whose first line is ``# at commit <sha>`` documents a
command of an earlier commit (a script since removed) and is left out.
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
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
SPAN = re.compile(r"`([^`\n]+)`")
COMMAND = re.compile(r"(?<![\w/.-])dermcad ([a-z][a-z-]*)((?: [^`|;&]*)?)")
SCRIPT = re.compile(r"(?:python3?|bash|sh) (bench/[\w.-]+)((?: [^`|;&]*)?)")
OPTION = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*)")
HISTORICAL = re.compile(r"\A\s*# at commit [0-9a-f]{7,40}\b")


@functools.cache
def _help(command: str) -> tuple[str, int]:
    result = CliRunner().invoke(app, [*command.split(), "--help"], env={"COLUMNS": "250"})
    return result.output, result.exit_code


def code_of(text: str) -> list[str]:
    """The code in Markdown ``text``: each fenced block's lines and each inline code span."""
    text = text.replace("\\\n", " ")
    code: list[str] = []
    for block in FENCE.findall(text):
        if not HISTORICAL.match(block):
            code += block.splitlines()
    for line in FENCE.sub("", text).splitlines():
        code += SPAN.findall(line)
    return code


def _lines(pattern: re.Pattern[str]) -> list[tuple[str, str, str]]:
    """``(doc, name, rest of the line)`` for every match of ``pattern`` in the docs' code."""
    found = []
    for doc in DOCS:
        for line in code_of(doc.read_text(encoding="utf-8")):
            for match in pattern.finditer(line):
                found.append((doc.relative_to(ROOT).as_posix(), match[1], match[2]))
    return found


def test_the_docs_name_commands() -> None:
    commands = {command for _, command, _ in _lines(COMMAND)}
    assert {"ingest", "split", "train", "evaluate", "export", "serve", "predict"} <= commands
    scripts = {script for _, script, _ in _lines(SCRIPT)}
    assert {"bench/accuracy_check.py", "bench/ensemble_auc.py"} <= scripts


def test_code_and_prose_are_told_apart() -> None:
    text = "dermcad assists clinicians. Run `dermcad serve --port 1`.\n```\ndermcad nope\n```\n"
    assert sorted(code_of(text)) == ["dermcad nope", "dermcad serve --port 1"]
    old = "```\n# at commit a21e6bc\npython bench/gone.py\n```\n"
    assert code_of(old) == []


def _problems(doc: str) -> list[str]:
    problems = []
    for where, command, rest in _lines(COMMAND):
        if where != doc:
            continue
        if _help(command)[1] != 0:
            problems.append(f"`dermcad {command}` is no command")
            continue
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
    for where, script, rest in _lines(SCRIPT):
        if where != doc:
            continue
        path = ROOT / script
        if not path.is_file():
            problems.append(f"`{script}` does not exist")
            continue
        source = path.read_text(encoding="utf-8")
        problems += [
            f"`{script}` has no {opt}"
            for opt in OPTION.findall(rest)
            if f'"{opt}"' not in source and f"{opt})" not in source and f"{opt}|" not in source
        ]
    return problems


@pytest.mark.parametrize("doc", [d.relative_to(ROOT).as_posix() for d in DOCS])
def test_documented_commands_exist(doc: str) -> None:
    problems = _problems(doc)
    assert not problems, f"{doc}: " + "; ".join(sorted(set(problems)))
