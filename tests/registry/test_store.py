"""Publishing is atomic and never replaces silently; list, open, remove; integrity checks."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dermcad.errors import UserError
from dermcad.inference.runtime import check_integrity, load_package
from dermcad.registry.store import list_ids, open_package, publish, remove
from serving.tiny import Tiny


def _copy_into(tiny: Tiny, model_id: str = "tiny"):  # type: ignore[no-untyped-def]
    def write(folder: Path) -> None:
        for f in tiny.package.iterdir():
            shutil.copy(f, folder / f.name)

    return write


def test_publish_then_list_open_remove(tiny: Tiny, tmp_path: Path) -> None:
    registry = tmp_path / "reg"
    publish(registry, "tiny", _copy_into(tiny))
    assert list_ids(registry) == ["tiny"]
    assert open_package(registry, "tiny").manifest.id == "tiny"
    remove(registry, "tiny")
    assert list_ids(registry) == [] and list(registry.iterdir()) == []
    with pytest.raises(UserError, match="no model"):
        remove(registry, "tiny")


def test_a_failed_publish_leaves_nothing(tmp_path: Path) -> None:
    registry = tmp_path / "reg"

    def half(folder: Path) -> None:
        (folder / "model.onnx").write_bytes(b"partial")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        publish(registry, "m", half)
    assert list(registry.iterdir()) == []


def test_publish_refuses_a_manifest_with_another_id(tiny: Tiny, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="differs"):
        publish(tmp_path / "reg", "other", _copy_into(tiny))
    assert list((tmp_path / "reg").iterdir()) == []


def test_an_existing_id_is_replaced_only_when_asked(tiny: Tiny, tmp_path: Path) -> None:
    registry = tmp_path / "reg"
    publish(registry, "tiny", _copy_into(tiny))
    marker = registry / "tiny" / "marker"
    marker.write_text("old")
    with pytest.raises(UserError, match="--replace"):
        publish(registry, "tiny", _copy_into(tiny))
    assert marker.exists()
    publish(registry, "tiny", _copy_into(tiny), replace=True)
    assert not marker.exists() and list_ids(registry) == ["tiny"]
    assert sorted(p.name for p in registry.iterdir()) == ["tiny"]


def test_unknown_and_bad_ids(tiny: Tiny) -> None:
    with pytest.raises(UserError, match=r"models: tiny"):
        open_package(tiny.registry, "absent")
    with pytest.raises(UserError, match="not allowed"):
        open_package(tiny.registry, "../tiny")


def test_tampered_model_is_not_loaded(tiny: Tiny, tmp_path: Path) -> None:
    registry = tmp_path / "reg"
    publish(registry, "tiny", _copy_into(tiny))
    package = open_package(registry, "tiny")
    load_package(package)  # intact: loads
    with (package.onnx_path).open("ab") as handle:
        handle.write(b"\0")
    with pytest.raises(UserError, match="sha256"):
        check_integrity(package)
    with pytest.raises(UserError, match="sha256"):
        load_package(package)
