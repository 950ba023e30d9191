"""Task records in SQLite (WAL) and task images on disk, under the data directory.

``<data_dir>/tasks.sqlite3`` holds the records; ``<data_dir>/tasks/<id>/`` per image ``<i>`` the
model-ready pixels ``<i>.input.npy`` (uint8 ``[S, S, 3]``, raw, already resized for the model), a
display copy ``<i>.display.jpg`` (longest side at most 512 px, no metadata) and, once run, the
class-activation map ``<i>.cam.npy``. Nothing a worker must decode again, and a bounded size per
image whatever was uploaded (about 150 KiB + 30 KiB at 224 px). A task's folder is
complete before its record is inserted, so a worker never sees half a task; a folder without a
record (a crash in between) is removed at start.
"""

from __future__ import annotations

import errno
import json
import shutil
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import numpy as np

from dermcad.inference.uploads import PreparedImage
from dermcad.tasks.base import BackendUnavailableError, TaskRecord
from dermcad.tasks.execution import display_name, input_name

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    id TEXT PRIMARY KEY,
    model_id TEXT NOT NULL,
    status TEXT NOT NULL,
    tta INTEGER NOT NULL,
    total INTEGER NOT NULL,
    done INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    expires REAL,
    error TEXT,
    names TEXT NOT NULL,
    results TEXT
);
CREATE INDEX IF NOT EXISTS tasks_status ON tasks(status, created);
"""
#: Seconds a write waits for another writer's lock before the request is refused with a 503.
BUSY_TIMEOUT_SECONDS = 30.0
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
_COLUMNS = (
    "id, model_id, status, tta, total, done, created, updated, error, results, expires, names"
)


class TaskStore:
    """Records and files of tasks. One SQLite connection per thread; writes serialised."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.files = data_dir / "tasks"
        self.db_path = data_dir / "tasks.sqlite3"
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._opened_lock = threading.Lock()
        self._opened: list[sqlite3.Connection] = []

    def open(self) -> None:
        self.files.mkdir(parents=True, exist_ok=True)
        db = self._connection()
        with self._write_lock:
            db.executescript(_SCHEMA)  # commits by itself

    def _connection(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(
                self.db_path,
                timeout=BUSY_TIMEOUT_SECONDS,
                isolation_level=None,
                check_same_thread=False,
            )
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA secure_delete=ON")  # deleted records are overwritten, not kept
            self._local.db = db
            with self._opened_lock:
                self._opened.append(db)
        return db

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        db = self._connection()
        with self._write_lock:
            try:
                db.execute("BEGIN IMMEDIATE")
                try:
                    yield db
                    db.execute("COMMIT")
                except BaseException:
                    if db.in_transaction:
                        db.execute("ROLLBACK")
                    raise
            except sqlite3.OperationalError as exc:  # locked too long, disk full, I/O error
                raise BackendUnavailableError(
                    f"the task database is unavailable ({exc}); try again later", retry_after=5
                ) from exc

    def task_dir(self, task_id: str) -> Path:
        return self.files / task_id

    def create(self, model_id: str, uploads: Sequence[PreparedImage], tta: int) -> str:
        """Write the images, then the record (status ``queued``); returns the task id."""
        task_id = str(uuid.uuid4())
        staging = self.files / f".new-{task_id}"
        try:
            staging.mkdir(parents=True)
            for i, upload in enumerate(uploads):
                np.save(staging / input_name(i), upload.pixels, allow_pickle=False)
                (staging / display_name(i)).write_bytes(upload.display)
            staging.rename(self.task_dir(task_id))
            names = [{"name": u.name, "width": u.width, "height": u.height} for u in uploads]
            now = time.time()
            with self._tx() as db:
                db.execute(
                    "INSERT INTO tasks (id, model_id, status, tta, total, created, updated, names)"
                    " VALUES (?, ?, 'queued', ?, ?, ?, ?, ?)",
                    (task_id, model_id, tta, len(uploads), now, now, json.dumps(names)),
                )
        except BaseException as exc:
            shutil.rmtree(staging, ignore_errors=True)
            shutil.rmtree(self.task_dir(task_id), ignore_errors=True)
            if isinstance(exc, OSError) and exc.errno in _NO_SPACE:
                raise BackendUnavailableError(
                    "no space left on the server's disk for the images; try again later",
                    retry_after=60,
                ) from exc
            raise
        return task_id

    def get(self, task_id: str, now: float | None = None) -> TaskRecord | None:
        row = (
            self._connection()
            .execute(f"SELECT {_COLUMNS} FROM tasks WHERE id = ?", (task_id,))
            .fetchone()
        )
        if row is None:
            return None
        expires = row[10]
        if expires is not None and expires <= (time.time() if now is None else now):
            return None
        return _record(row)

    def claim(self) -> TaskRecord | None:
        """Mark the oldest queued task running and return it (``None`` if none)."""
        with self._tx() as db:
            row = db.execute(
                "SELECT id FROM tasks WHERE status = 'queued' ORDER BY created LIMIT 1"
            ).fetchone()
            if row is None:
                return None
            db.execute(
                "UPDATE tasks SET status = 'running', attempts = attempts + 1, done = 0,"
                " updated = ? WHERE id = ?",
                (time.time(), row[0]),
            )
            found = db.execute(f"SELECT {_COLUMNS} FROM tasks WHERE id = ?", (row[0],))
            return _record(found.fetchone())

    def progress(self, task_id: str, done: int) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE tasks SET done = ?, updated = ? WHERE id = ? AND status = 'running'",
                (done, time.time(), task_id),
            )

    def finish(
        self,
        task_id: str,
        ttl: float,
        results: list[dict[str, Any]] | None,
        error: str | None = None,
    ) -> None:
        now = time.time()
        status = "failed" if error is not None else "done"
        with self._tx() as db:
            db.execute(
                "UPDATE tasks SET status = ?, done = CASE WHEN ? = 'done' THEN total ELSE done END,"
                " updated = ?, expires = ?, error = ?, results = ? WHERE id = ?",
                (
                    status,
                    status,
                    now,
                    now + ttl,
                    error,
                    None if results is None else json.dumps(results),
                    task_id,
                ),
            )

    def delete(self, task_id: str) -> bool:
        with self._tx() as db:
            deleted = db.execute("DELETE FROM tasks WHERE id = ?", (task_id,)).rowcount
        self._remove_files(task_id)
        if deleted:
            self._scrub_log()
        return deleted > 0

    def _remove_files(self, task_id: str) -> None:
        """Remove a task's folder even while a worker is still writing heat maps into it.

        The folder is first renamed out of the worker's way (atomic): a write that starts later
        fails on the missing path instead of recreating an orphan file, and whatever a write had
        already created goes with the renamed folder. Start-up recovery sweeps leftovers.
        """
        folder = self.task_dir(task_id)
        doomed = self.files / f".deleted-{task_id}-{uuid.uuid4().hex[:8]}"
        try:
            folder.rename(doomed)
        except OSError:
            return  # never stored, or already removed
        shutil.rmtree(doomed, ignore_errors=True)

    def _scrub_log(self) -> None:
        """Copy the log into the database and truncate it: the write-ahead log still holds the
        deleted records (file names, results) until it is checkpointed."""
        # Busy (a reader on an old snapshot): the next deletion scrubs it.
        with self._write_lock, suppress(sqlite3.OperationalError):
            self._connection().execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def recover(self, max_attempts: int, ttl: float) -> tuple[int, int]:
        """After a crash: running tasks go back to the queue, or fail after ``max_attempts``."""
        now = time.time()
        with self._tx() as db:
            failed = db.execute(
                "UPDATE tasks SET status = 'failed', updated = ?, expires = ?, error = ?"
                " WHERE status = 'running' AND attempts >= ?",
                (now, now + ttl, "interrupted by a server restart too many times", max_attempts),
            ).rowcount
            requeued = db.execute(
                "UPDATE tasks SET status = 'queued', done = 0, updated = ?"
                " WHERE status = 'running'",
                (now,),
            ).rowcount
            known = {row[0] for row in db.execute("SELECT id FROM tasks")}
        for folder in self.files.iterdir():
            if folder.is_dir() and folder.name not in known:
                shutil.rmtree(folder, ignore_errors=True)
        return requeued, failed

    def expire(self, now: float | None = None) -> int:
        """Delete finished tasks whose time-to-live has passed, with their files."""
        moment = time.time() if now is None else now
        with self._tx() as db:
            ids = [r[0] for r in db.execute("SELECT id FROM tasks WHERE expires <= ?", (moment,))]
            db.executemany("DELETE FROM tasks WHERE id = ?", [(i,) for i in ids])
        for task_id in ids:
            self._remove_files(task_id)
        if ids:
            self._scrub_log()
        return len(ids)

    def count_unfinished(self) -> int:
        row = self._connection().execute(
            "SELECT COUNT(*) FROM tasks WHERE status IN ('queued', 'running')"
        )
        return int(row.fetchone()[0])

    def close(self) -> None:
        """Close every connection this store opened (call once no thread uses it)."""
        with self._opened_lock:
            opened, self._opened = self._opened, []
        for db in opened:
            db.close()
        self._local = threading.local()


def _record(row: Sequence[Any]) -> TaskRecord:
    return TaskRecord(
        id=row[0],
        model_id=row[1],
        status=row[2],
        tta=int(row[3]),
        total=int(row[4]),
        done=int(row[5]),
        created=float(row[6]),
        updated=float(row[7]),
        error=row[8],
        results=None if row[9] is None else json.loads(row[9]),
        images=json.loads(row[11]),
    )
