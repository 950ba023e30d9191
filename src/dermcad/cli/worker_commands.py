"""``dermcad worker``: a Celery worker of the distributed task back end (docs/deploy.md).

Celery and onnxruntime are imported inside the command, never at module level.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import typer

from dermcad.cli.errors import reports_user_errors


class PoolKind(StrEnum):
    threads = "threads"
    prefork = "prefork"
    solo = "solo"


@reports_user_errors
def worker(
    concurrency: int = typer.Option(
        None,
        "--concurrency",
        "-c",
        min=1,
        max=64,
        help="tasks run at once by this worker (DERMCAD_WORKERS, default 1); ONNX Runtime "
        "threads per task default to CPUs / concurrency (DERMCAD_THREADS_PER_WORKER)",
    ),
    pool: PoolKind = typer.Option(
        PoolKind.threads,
        "--pool",
        help="threads: one process, one model session shared by the tasks (least memory); "
        "prefork: a process per task slot, each with its own session; solo: one task at a time",
    ),
    loglevel: str = typer.Option("INFO", "--loglevel", help="DEBUG, INFO, WARNING or ERROR"),
    hostname: str = typer.Option(
        None, "--hostname", "-n", help="worker name in Celery (default: dermcad-<host>-<pid>@%h)"
    ),
) -> None:
    """Run a worker of the distributed back end: takes tasks from Redis (DERMCAD_BROKER_URL)
    and runs them through the same models and prediction code as the API's embedded queue.
    Start as many as needed, on any machines that see the same registry and Redis. SIGTERM
    finishes the running tasks first; a worker killed mid-task has its tasks delivered again."""
    from dermcad.settings import load_settings
    from dermcad.tasks.distributed.launch import run_worker

    overrides: dict[str, Any] = {} if concurrency is None else {"workers": concurrency}
    settings = load_settings(**overrides)
    run_worker(settings, pool.value, loglevel, hostname)


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the root app."""
    app.command("worker")(worker)
