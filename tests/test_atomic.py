"""The one atomic-write helper: a failed write leaves no partial file and the old content."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from dermcad.atomic import atomic_writer, write_json_atomic, write_text_atomic


class _DiskFullError(OSError):
    pass


def test_a_write_that_fails_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "run.json"
    write_json_atomic(target, {"epoch": 1})
    with pytest.raises(_DiskFullError), atomic_writer(target) as handle:
        handle.write(b'{"epoch": 2, "hal')
        handle.flush()
        raise _DiskFullError("no space left on device")
    assert json.loads(target.read_text(encoding="utf-8")) == {"epoch": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]


def test_a_first_write_that_fails_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "index.csv"
    with pytest.raises(_DiskFullError), atomic_writer(target) as handle:
        handle.write(b"image_id,path\n")
        raise _DiskFullError("no space left on device")
    assert not target.exists()
    assert list(target.parent.iterdir()) == []


def test_the_file_gets_the_permissions_of_a_plain_write(tmp_path: Path) -> None:
    plain = tmp_path / "plain.txt"
    plain.write_text("x", encoding="utf-8")
    atomic = tmp_path / "atomic.txt"
    write_text_atomic(atomic, "x")
    assert stat.S_IMODE(atomic.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)


def test_torch_checkpoints_go_through_the_helper(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from dermcad.models.run import atomic_torch_save

    target = tmp_path / "best.pt"
    atomic_torch_save(target, {"epoch": 1})
    before = target.read_bytes()
    with pytest.raises(Exception, match="pickle"):
        atomic_torch_save(target, {"epoch": 2, "unpicklable": lambda: None})
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["best.pt"]
