"""A registry is a folder of model packages, ``<registry>/<model_id>/{model.onnx, model.json}``.

Publishing stages the package in a hidden temporary folder inside the registry and renames it into
place, so a half-written model is never visible; an existing id is replaced only when asked, and
then the old package is moved aside before the new one is renamed in.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dermcad.errors import UserError
from dermcad.registry.manifest import (
    MANIFEST_NAME,
    MODEL_ID_PATTERN,
    ONNX_NAME,
    Manifest,
    read_manifest,
)

_STAGING_PREFIX = ".staging-"
_TRASH_PREFIX = ".old-"


@dataclass(frozen=True)
class Package:
    """A published model: its folder and its validated manifest."""

    path: Path
    manifest: Manifest

    @property
    def onnx_path(self) -> Path:
        return self.path / ONNX_NAME

    @property
    def id(self) -> str:
        return self.manifest.id


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_model_id(model_id: str) -> str:
    if not re.match(MODEL_ID_PATTERN, model_id):
        raise UserError(
            f"model id {model_id!r} is not allowed: use letters, digits, '.', '_' and '-' "
            "(at most 64, starting with a letter or digit)"
        )
    return model_id


def package_dir(registry: Path, model_id: str) -> Path:
    return registry / check_model_id(model_id)


def open_package(registry: Path, model_id: str) -> Package:
    """The package ``model_id`` (manifest validated; the ONNX file must exist)."""
    folder = package_dir(registry, model_id)
    if not folder.is_dir():
        known = ", ".join(list_ids(registry)) or "none"
        raise UserError(f"no model {model_id!r} in registry {registry} (models: {known})")
    manifest = read_manifest(folder / MANIFEST_NAME)
    if manifest.id != model_id:
        raise UserError(f"{folder / MANIFEST_NAME}: manifest id {manifest.id!r} != folder name")
    if not (folder / ONNX_NAME).is_file():
        raise UserError(f"{folder}: {ONNX_NAME} is missing")
    return Package(folder, manifest)


def list_ids(registry: Path) -> list[str]:
    """Ids of the published packages (folders holding a manifest), sorted."""
    if not registry.is_dir():
        return []
    return sorted(
        entry.name
        for entry in registry.iterdir()
        if entry.is_dir() and not entry.name.startswith(".") and (entry / MANIFEST_NAME).is_file()
    )


def list_packages(registry: Path) -> list[Package]:
    return [open_package(registry, model_id) for model_id in list_ids(registry)]


def publish(
    registry: Path,
    model_id: str,
    write: Callable[[Path], None],
    *,
    replace: bool = False,
) -> Path:
    """Publish a package atomically: ``write(staging_dir)`` fills a temporary folder first.

    ``write`` must leave ``model.onnx`` and a valid ``model.json`` (with this id) in the folder.
    """
    target = package_dir(registry, model_id)
    if target.exists() and not replace:
        raise UserError(f"model {model_id!r} already exists in {registry}; pass --replace")
    registry.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{_STAGING_PREFIX}{model_id}-", dir=registry))
    try:
        write(staging)
        manifest = read_manifest(staging / MANIFEST_NAME)
        if manifest.id != model_id:
            raise UserError(f"manifest id {manifest.id!r} differs from the id {model_id!r}")
        staging.chmod(0o755)
        if target.exists():
            trash = Path(tempfile.mkdtemp(prefix=f"{_TRASH_PREFIX}{model_id}-", dir=registry))
            target.replace(trash / model_id)
            staging.replace(target)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def remove(registry: Path, model_id: str) -> None:
    """Delete a package (moved aside first, so readers never see half of it)."""
    target = package_dir(registry, model_id)
    if not target.is_dir():
        raise UserError(f"no model {model_id!r} in registry {registry}")
    trash = Path(tempfile.mkdtemp(prefix=f"{_TRASH_PREFIX}{model_id}-", dir=registry))
    target.replace(trash / model_id)
    shutil.rmtree(trash, ignore_errors=True)
