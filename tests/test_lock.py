"""constraints.txt, the pinned dependency set: complete, exact where it must be, and used.

Refreshed with ``make lock`` (pip-tools' pip-compile); every install (``make serve``, ``make test``,
both Dockerfiles) passes it to pip with ``-c``, so a new release of a dependency cannot change what
a fresh machine installs until the file is refreshed and the suite passes on it.
"""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "constraints.txt"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)", re.M)


def pins(text: str) -> dict[str, str]:
    return {str(canonicalize_name(name)): version for name, version in PIN.findall(text)}


def _requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    named = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        named += extra
    found = [Requirement(text) for text in named]
    return [r for r in found if str(canonicalize_name(r.name)) != "dermcad"]


def test_every_requirement_is_pinned_within_its_range() -> None:
    pinned = pins(LOCK.read_text(encoding="utf-8"))
    problems = []
    for requirement in _requirements():
        version = pinned.get(str(canonicalize_name(requirement.name)))
        if version is None:
            problems.append(f"{requirement.name} is not pinned")
        elif not requirement.specifier.contains(version, prereleases=True):
            problems.append(f"{requirement.name}=={version} is outside {requirement.specifier}")
    assert not problems, problems
    assert pinned["torch"] == "2.14.1" and pinned["torchvision"] == "0.29.1"


def test_the_lock_names_no_path_and_not_dermcad_itself() -> None:
    text = LOCK.read_text(encoding="utf-8")
    assert "dermcad" not in pins(text)
    assert not re.search(r"file://|@ |(?<![\w.])/(?:home|root|tmp|work|opt|Users)/", text)
    assert "pip-compile" in text and "--output-file=constraints.txt" in text


def test_the_installed_versions_are_the_pinned_ones() -> None:
    """This environment was installed through the lock: whatever of it is installed is as pinned."""
    pinned = pins(LOCK.read_text(encoding="utf-8"))
    installed = {
        str(canonicalize_name(dist.metadata["Name"])): dist.version
        for dist in metadata.distributions()
    }
    assert {"numpy", "fastapi", "onnxruntime", "pydantic"} <= installed.keys() & pinned.keys()
    drift = {
        name: (installed[name], version)
        for name, version in pinned.items()
        if name in installed and Version(installed[name]).public != Version(version).public
    }
    assert not drift, f"installed vs pinned: {drift}"


def test_every_install_uses_the_lock() -> None:
    for script in ("Dockerfile", "Dockerfile.train", "scripts/bootstrap.sh"):
        text = (ROOT / script).read_text(encoding="utf-8")
        installs = [line for line in text.splitlines() if "pip install" in line and "-e" in line]
        installs += [line for line in text.splitlines() if re.search(r"pip install .*\"\.\[", line)]
        assert installs, script
        assert all("-c constraints.txt" in line for line in installs), (script, installs)
