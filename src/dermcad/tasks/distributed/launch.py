"""Starting a ``dermcad worker``: the settings, the models it serves, and the Celery worker.

A worker serves the same models as the API (``DERMCAD_REGISTRY``, ``DERMCAD_MODELS`` or
``DERMCAD_MODELS_CONFIG``), opened with the same runner, so a task runs the same prediction
whichever process takes it.
"""

from __future__ import annotations

import logging
import os
import socket
from typing import TYPE_CHECKING, Literal

from dermcad.errors import UserError
from dermcad.tasks.distributed.config import DistributedConfig
from dermcad.tasks.distributed.worker import (
    WorkerContext,
    make_celery,
    register_task,
    worker_argv,
    worker_info,
)

if TYPE_CHECKING:
    from dermcad.inference.runner import ModelRunner
    from dermcad.settings import Settings

log = logging.getLogger(__name__)
Pool = Literal["threads", "prefork", "solo"]


def open_runners(settings: Settings) -> dict[str, ModelRunner]:
    """A runner per exposed model id, opened by the one entry the API uses too."""
    from dermcad.inference.models import ModelsConfig, open_models

    runners = open_models(ModelsConfig.from_settings(settings))
    for model_id, runner in runners.items():
        providers = runner.loaded.session.get_providers()
        log.info("model %s loaded on %s", model_id, ", ".join(providers))
    return runners


def run_worker(
    settings: Settings, pool: Pool, loglevel: str = "INFO", hostname: str | None = None
) -> None:
    """Run a Celery worker until it is stopped (SIGTERM: finish the running tasks, then exit)."""
    from dermcad.inference.models import ModelsConfig, exposed_models

    if not settings.broker_url:
        raise UserError("dermcad worker needs DERMCAD_BROKER_URL (redis://host:6379/0)")
    config = DistributedConfig.from_settings(settings)
    exposed = exposed_models(
        ModelsConfig.from_settings(settings)
    )  # a bad registry fails here, in one line
    concurrency = 1 if pool == "solo" else settings.workers
    logging.basicConfig(level=loglevel.upper(), format="%(asctime)s %(levelname)s %(message)s")
    print(
        worker_info(
            config,
            {
                "models": ",".join(m.id for m in exposed),
                "pool": pool,
                "concurrency": concurrency,
                "onnx_threads": settings.intra_op_threads(),
                "batch_size": settings.batch_size,
            },
        ),
        flush=True,
    )
    app = make_celery(config)
    # Only a prefork child can be stopped when the broker connection drops; a thread finishes
    # its task, and the redelivered message then finds it done.
    app.conf.worker_cancel_long_running_tasks_on_connection_loss = pool == "prefork"
    context = WorkerContext(config, lambda: open_runners(settings))
    register_task(app, context)  # before preload(): the lease keeper resends through the app
    if pool != "prefork":  # a prefork child opens its own sessions after the fork
        context.preload()
    name = hostname or f"dermcad-{socket.gethostname()}-{os.getpid()}@%h"
    app.worker_main(worker_argv(concurrency, pool, config.queue, loglevel, name))
