"""compose.yaml, the Dockerfiles and ``dermcad worker``'s command line, checked without Docker.

There is no Docker engine on the CI machine: nothing here builds an image or starts a container.
These tests check what can be checked from the files (the settings they name exist, the volumes,
the replicas, the non-root user, the health check); docs/deploy.md lists what was not run.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from dermcad.cli.main import app
from dermcad.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
_VARIABLE = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}")


def interpolate(value: Any) -> Any:
    """Compose's ``${NAME:-default}`` with nothing set in the environment: the default."""
    if isinstance(value, str):
        return _VARIABLE.sub(lambda m: m.group(2) or "", value)
    if isinstance(value, list):
        return [interpolate(v) for v in value]
    if isinstance(value, dict):
        return {k: interpolate(v) for k, v in value.items()}
    return value


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return dict(interpolate(data))


def test_compose_has_the_api_workers_and_redis_with_volumes(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"redis", "api", "worker"} <= set(services)
    assert set(compose["volumes"]) >= {"registry", "redis-data"}
    redis = services["redis"]
    assert "redis-data:/data" in redis["volumes"]
    command = redis["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"
    worker = services["worker"]
    assert int(worker["deploy"]["replicas"]) >= 2
    assert worker["command"][:2] == ["dermcad", "worker"]
    for name in ("worker", "worker-gpu"):  # health: the Celery ping of the worker's own node
        command, check = services[name]["command"], " ".join(services[name]["healthcheck"]["test"])
        assert command[command.index("--hostname") + 1] == "worker@%h"
        assert 'inspect ping -d "worker@$$(hostname)"' in check
    for name in ("api", "worker", "worker-gpu"):
        service = services[name]
        assert "registry:/models:ro" in service["volumes"]
        assert service["environment"]["DERMCAD_BROKER_URL"] == "redis://redis:6379/0"
        assert service["depends_on"]["redis"]["condition"] == "service_healthy"


def test_every_setting_compose_names_exists(compose: dict[str, Any]) -> None:
    known = {f"DERMCAD_{name.upper()}" for name in Settings.model_fields}
    named = {
        key
        for service in compose["services"].values()
        for key in (service.get("environment") or {})
        if key.startswith("DERMCAD_")
    }
    assert named and named <= known, sorted(named - known)


def test_compose_worker_settings_are_valid_settings(compose: dict[str, Any]) -> None:
    for name in ("api", "worker", "worker-gpu"):
        environment = compose["services"][name]["environment"]
        values = {k[len("DERMCAD_") :].lower(): v for k, v in environment.items() if v != ""}
        settings = Settings(**values)
        assert settings.broker_url == "redis://redis:6379/0"


def test_worker_command_of_compose_is_accepted(compose: dict[str, Any]) -> None:
    for name in ("worker", "worker-gpu"):
        args = compose["services"][name]["command"][1:]
        result = CliRunner().invoke(app, [*args, "--help"])
        assert result.exit_code == 0, result.output


def _instructions(path: Path) -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", path.read_text(encoding="utf-8"))
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
        for line in lines
        if line and not line.startswith("#")
    ]


def test_serving_image_has_no_torch_runs_as_non_root_and_checks_health() -> None:
    steps = _instructions(ROOT / "Dockerfile")
    runs = " ".join(args for op, args in steps if op == "RUN")
    # the one extra installed is distributed ("train" alone would match "constraints.txt")
    assert re.findall(r'"\.\[([^\]]*)\]"', runs) == ["distributed"] and "torch" not in runs
    assert "-c constraints.txt" in runs
    users = [args for op, args in steps if op == "USER"]
    assert users and users[-1].split(":")[0] not in ("0", "root")
    health = [args for op, args in steps if op == "HEALTHCHECK"]
    assert health and "/healthz" in health[0]
    assert [args for op, args in steps if op == "CMD"][-1] == '["dermcad", "serve"]'


def test_training_image_has_torch_on_a_cuda_base() -> None:
    steps = _instructions(ROOT / "Dockerfile.train")
    base = next(args for op, args in steps if op == "ARG" and args.startswith("CUDA_IMAGE="))
    assert base.startswith("CUDA_IMAGE=nvidia/cuda:") and "cudnn" in base
    assert any(op == "RUN" and '".[train]"' in args for op, args in steps)
    users = [args for op, args in steps if op == "USER"]
    assert users and users[-1].split(":")[0] not in ("0", "root")


def test_dockerignore_keeps_the_build_context_small() -> None:
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert {".git", ".venv*", "runs", "models", "tests"} <= set(ignored)


def test_worker_without_a_broker_is_one_line_and_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DERMCAD_BROKER_URL", raising=False)
    result = CliRunner().invoke(app, ["worker"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "dermcad: error: dermcad worker needs DERMCAD_BROKER_URL (redis://host:6379/0)"
    ]


def test_worker_with_an_empty_registry_is_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DERMCAD_BROKER_URL", "redis://127.0.0.1:9/0")
    monkeypatch.setenv("DERMCAD_REGISTRY", str(tmp_path))
    result = CliRunner().invoke(app, ["worker"])
    assert result.exit_code == 2
    [line] = result.output.strip().splitlines()
    assert line.startswith("dermcad: error: registry") and "holds no models" in line


def test_worker_with_a_bad_setting_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DERMCAD_BROKER_URL", "http://not-redis:80")
    result = CliRunner().invoke(app, ["worker"])
    assert result.exit_code == 2 and "DERMCAD_BROKER_URL" in result.output
