"""Schemathesis fuzzes every operation of the OpenAPI schema: no answer is a 5xx.

The operations are driven with Hypothesis directly (``APIOperation.as_strategy``) rather than
through schemathesis' pytest plugin, which does not run under this pytest version.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from api.conftest import make_settings
from dermcad.api.app import create_app
from serving.tiny import Tiny

EXAMPLES_PER_OPERATION = 25


@pytest.mark.slow
def test_no_server_errors(tiny: Tiny, tmp_path: Path) -> None:
    app = create_app(make_settings(tiny, tmp_path / "data", from_task_wait=1.0))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    labels = {f"{op.method.upper()} {op.path}" for op in operations}
    assert {"POST /predict", "POST /predict_bulk", "GET /from_task/{task_uuid}"} <= labels
    statuses: set[int] = set()
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def fuzz(case: schemathesis.Case) -> None:
            response = case.call_and_validate(checks=[not_a_server_error])
            statuses.add(response.status_code)

        fuzz()
    assert statuses and max(statuses) < 500
