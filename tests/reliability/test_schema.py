"""Schemathesis against the OpenAPI schema, stateful: sequences of calls that follow the task id
from ``POST /predict`` and ``/predict_bulk`` to ``/from_task``, ``/tasks/{id}``, its heat maps and
``DELETE``, with random parameters. Every answer must be documented (status code, content type,
body schema), none a 5xx, and a deleted task must stay gone (``use_after_free``).

(tests/api/test_fuzz.py fuzzes each operation alone for server errors; this adds the sequences
and the conformance checks.) The schema's own links are added here, on a copy, because FastAPI
does not write OpenAPI links.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    ensure_resource_availability,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    use_after_free,
)

from api.conftest import make_settings
from dermcad.api.app import create_app
from serving.tiny import Tiny

from .corpus import png
from .disk import stored_files, task_rows

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    use_after_free,
    ensure_resource_availability,
]
SCENARIOS = 60


def _with_links(spec: dict[str, Any]) -> dict[str, Any]:
    """The schema plus OpenAPI links from a created task's id to every operation on it."""
    ids = {
        (method, path): op["operationId"]
        for path, item in spec["paths"].items()
        for method, op in item.items()
    }
    task = "$response.body#/task_uuid"
    links = {
        "Results": {
            "operationId": ids[("get", "/from_task/{task_uuid}")],
            "parameters": {"task_uuid": task, "wait": 5},
        },
        "Status": {
            "operationId": ids[("get", "/tasks/{task_id}")],
            "parameters": {"task_id": task},
        },
        "HeatMap": {
            "operationId": ids[("get", "/tasks/{task_id}/heatmaps/{index}.png")],
            "parameters": {"task_id": task, "index": 0},
        },
        "Delete": {
            "operationId": ids[("delete", "/tasks/{task_id}")],
            "parameters": {"task_id": task},
        },
    }
    for path in ("/predict", "/predict_bulk"):
        spec["paths"][path]["post"]["responses"]["200"]["links"] = links
    return spec


@pytest.mark.slow
def test_stateful_sequences_conform_to_the_schema(tiny: Tiny, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    app = create_app(make_settings(tiny, data_dir, from_task_wait=2.0))
    app.openapi_schema = _with_links(app.openapi())
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    seen: dict[tuple[str, int], int] = {}

    class Machine(schema.as_state_machine()):  # type: ignore[misc]
        def before_call(self, case: schemathesis.Case) -> None:
            # Real images, so that sequences reach tasks that run (random bytes are 415s, which
            # the per-operation fuzzing of tests/api covers).
            if case.operation.method.upper() == "POST" and case.operation.path == "/predict":
                case.body = {"file": png(40, 30)}
            elif case.operation.method.upper() == "POST":
                case.body = {"files": [png(40, 30, seed=1), png(24, 24, seed=2)]}

        def validate_response(
            self, response: Any, case: schemathesis.Case, *args: Any, **kwargs: Any
        ) -> None:
            key = (case.operation.label, response.status_code)
            seen[key] = seen.get(key, 0) + 1
            case.validate_response(response, checks=CHECKS)

    Machine.run(
        settings=settings(
            max_examples=SCENARIOS,
            stateful_step_count=8,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
    )
    # The sequences reached real tasks (a heat map answers 200 only once its task is done, which
    # depends on the machine's speed: it is called, but its 200 is not required).
    reached = {label for label, status in seen if status < 300}
    assert {
        "POST /predict",
        "POST /predict_bulk",
        "GET /from_task/{task_uuid}",
        "GET /tasks/{task_id}",
        "DELETE /tasks/{task_id}",
    } <= reached, sorted(seen)
    assert any(label.endswith("heatmaps/{index}.png") for label, _ in seen), sorted(seen)
    assert max(status for _, status in seen) < 500
    # What the sequences left behind is consistent: every record has its folder, no orphans,
    # and the queue drains (every task that was not deleted finishes).
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and any(
        status not in ("done", "failed") for _, status in task_rows(data_dir)
    ):
        time.sleep(0.1)
    rows = dict(task_rows(data_dir))
    assert set(rows.values()) <= {"done"}
    assert {p.split("/")[1] for p in stored_files(data_dir)} == set(rows)
