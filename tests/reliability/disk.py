"""What a server keeps under its data directory: task rows and files."""

from __future__ import annotations

import sqlite3
from pathlib import Path

DB_FILES = ("tasks.sqlite3", "tasks.sqlite3-wal", "tasks.sqlite3-shm")


def stored_files(data_dir: Path) -> list[str]:
    """Every file under the data directory except the SQLite database itself, relative."""
    if not data_dir.exists():
        return []
    return sorted(
        str(p.relative_to(data_dir))
        for p in data_dir.rglob("*")
        if p.is_file() and p.name not in DB_FILES
    )


def task_rows(data_dir: Path) -> list[tuple[str, str]]:
    """``(id, status)`` of every task record."""
    db_path = data_dir / "tasks.sqlite3"
    if not db_path.exists():
        return []
    db = sqlite3.connect(db_path, timeout=30)
    try:
        return [(r[0], r[1]) for r in db.execute("SELECT id, status FROM tasks ORDER BY id")]
    finally:
        db.close()
