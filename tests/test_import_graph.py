"""The package boundaries of docs/architecture.md, checked on the source's import statements.

Every ``import`` and ``from ... import`` is read with ``ast`` (those inside functions and
``TYPE_CHECKING`` blocks too), so a lazy import cannot hide an edge.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "dermcad"

# (importing package, forbidden target prefix, allowed exceptions)
FORBIDDEN: list[tuple[str, str, tuple[str, ...]]] = [
    ("dermcad.tasks", "dermcad.api", ()),
    ("dermcad.registry", "dermcad.api", ()),
    ("dermcad.cli", "dermcad.api", ("dermcad.api.app",)),  # `dermcad serve` starts the app
    ("dermcad.inference", "dermcad.api", ()),
    ("dermcad.settings", "dermcad.api", ()),
    # A registry stores and exposes packages: it never opens or runs one. Preprocessing is the
    # one function shared with training, described by every manifest.
    ("dermcad.registry", "dermcad.inference", ("dermcad.inference.preprocess",)),
]


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, module: str) -> set[str]:
    """The modules ``path`` (named ``module``) imports, relative imports resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def edges() -> list[tuple[str, str]]:
    return [
        (module_name(path), target)
        for path in sorted(SRC.rglob("*.py"))
        for target in sorted(imports_of(path, module_name(path)))
    ]


def violations(graph: list[tuple[str, str]]) -> list[str]:
    found = []
    for source, target in graph:
        for importer, forbidden, allowed in FORBIDDEN:
            in_importer = source == importer or source.startswith(importer + ".")
            hits = target == forbidden or target.startswith(forbidden + ".")
            excused = any(target == a or target.startswith(a + ".") for a in allowed)
            if in_importer and hits and not excused:
                found.append(f"{source} imports {target}")
    return found


def test_the_source_tree_is_found() -> None:
    graph = edges()
    assert any(source == "dermcad.api.app" for source, _ in graph)
    assert ("dermcad.inference.models", "dermcad.inference.runner") in graph


def test_no_forbidden_edges() -> None:
    assert violations(edges()) == []


@pytest.mark.parametrize(
    ("source", "target"),
    [
        ("dermcad.tasks.distributed.launch", "dermcad.api.app"),
        ("dermcad.registry.verify", "dermcad.inference.runner"),
        ("dermcad.cli.worker_commands", "dermcad.api.settings"),
    ],
)
def test_the_check_catches_a_back_edge(source: str, target: str) -> None:
    assert violations([(source, target)]) == [f"{source} imports {target}"]


def test_lazy_imports_are_seen(tmp_path: Path) -> None:
    module = tmp_path / "lazy.py"
    module.write_text("def f():\n    from dermcad.api.app import create_app\n", encoding="utf-8")
    assert "dermcad.api.app" in imports_of(module, "dermcad.cli.lazy")


# Run in a fresh interpreter where the serving stack cannot be imported, as on a GPU box that
# has PyTorch and dermcad's data and training dependencies only.
_WITHOUT_SERVING = """
import importlib.abc, sys
SERVING = {"pydantic_settings", "dotenv", "fastapi", "fastapi_offline", "uvicorn", "starlette",
           "multipart", "python_multipart", "prometheus_client", "onnxruntime", "celery", "redis"}
class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in SERVING:
            raise ImportError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Refuse())
from typer.testing import CliRunner
from dermcad.cli.main import app
for args in (["--help"], ["ingest", "--help"], ["split", "--help"], ["train", "--help"]):
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, (args, repr(result.exception))
print(sorted(m for m in sys.modules if m.split(".")[0] in SERVING))
"""


def test_the_cli_runs_data_and_training_commands_without_the_serving_stack() -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC.parent), *sys.path])}
    done = subprocess.run(
        [sys.executable, "-c", _WITHOUT_SERVING], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"
