"""``dermcad serve``: its help lists the settings; bad settings stop it with one line."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from dermcad.cli.main import app
from dermcad.settings import Settings, settings_help

runner = CliRunner()


def test_help_lists_every_setting() -> None:
    result = runner.invoke(app, ["serve", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for name in Settings.model_fields:
        assert f"DERMCAD_{name.upper()}" in result.output


def test_help_states_each_default_once() -> None:
    entries = settings_help().split("\n\n")
    assert len(entries) == len(Settings.model_fields)
    for entry in entries:
        assert entry.count("(default:") == 1, entry
    models = next(e for e in entries if e.startswith("DERMCAD_MODELS:"))
    assert models.endswith("(default: every model in the registry)")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DERMCAD_WORKERS": "0"}, "DERMCAD_WORKERS"),
        ({"DERMCAD_CORS_ORIGINS": "ftp://x"}, "CORS origin"),
        ({"DERMCAD_API_KEYS": "short"}, "16 characters"),
        ({"DERMCAD_MODELS": "nope"}, "no model 'nope'"),
        ({"DERMCAD_DEFAULT_MODEL": "other"}, "default model 'other'"),
    ],
)
def test_bad_settings_fail_in_one_line(
    env: dict[str, str], message: str, tmp_path: Path, tiny_registry: Path
) -> None:
    full = {"DERMCAD_REGISTRY": str(tiny_registry), "DERMCAD_DATA_DIR": str(tmp_path), **env}
    result = runner.invoke(app, ["serve", "--port", "1"], env=full)
    assert result.exit_code == 2
    assert message in result.output and result.output.count("\n") == 1


@pytest.mark.parametrize(
    ("origin", "reason"),
    [
        ("ftp://x", "must start with http:// or https://"),
        ("localhost:5173", "must start with http:// or https://"),
        ("http://127.0.0.1:5173/", "has a path, query or trailing slash"),
        ("http://ui.example/app", "has a path"),
        ("http://", "names no host"),
        ("http://ui.example:99999", "is not a valid address"),
    ],
)
def test_malformed_cors_origins_are_named_with_the_form_expected(
    origin: str, reason: str, tmp_path: Path, tiny_registry: Path
) -> None:
    env = {
        "DERMCAD_REGISTRY": str(tiny_registry),
        "DERMCAD_DATA_DIR": str(tmp_path),
        "DERMCAD_CORS_ORIGINS": f"http://127.0.0.1:5173, {origin}",
    }
    result = runner.invoke(app, ["serve", "--port", "1"], env=env)
    assert result.exit_code == 2 and result.output.count("\n") == 1
    assert f"CORS origin '{origin}' {reason}" in result.output
    assert "e.g. http://127.0.0.1:5173" in result.output


@pytest.mark.parametrize(
    ("origins", "line"),
    [
        ("", "CORS: off, only this server's own page may call the API from a browser"),
        (
            "http://127.0.0.1:5173,http://localhost:5173",
            "CORS: browser pages from http://127.0.0.1:5173, http://localhost:5173 may call",
        ),
    ],
)
def test_serve_says_at_start_which_origins_are_allowed(
    origins: str, line: str, tmp_path: Path, tiny_registry: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    started: list[object] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: started.append(app))
    env = {
        "DERMCAD_REGISTRY": str(tiny_registry),
        "DERMCAD_DATA_DIR": str(tmp_path),
        "DERMCAD_CORS_ORIGINS": origins,
    }
    result = runner.invoke(app, ["serve", "--port", "1"], env=env)
    assert result.exit_code == 0, result.output
    assert line in result.output and len(started) == 1


def test_empty_registry(tmp_path: Path) -> None:
    result = runner.invoke(app, ["serve"], env={"DERMCAD_REGISTRY": str(tmp_path)})
    assert result.exit_code == 2 and "holds no models" in result.output


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DERMCAD_REGISTRY", str(tmp_path))
    monkeypatch.setenv("DERMCAD_CORS_ORIGINS", "http://a.example, http://b.example")
    monkeypatch.setenv("DERMCAD_MODELS", "x=y,z")
    monkeypatch.setenv("DERMCAD_TTL_SECONDS", "60")
    settings = Settings()
    assert settings.registry == tmp_path and settings.ttl_seconds == 60
    assert settings.cors_origins == ["http://a.example", "http://b.example"]
    assert settings.models == ["x=y", "z"] and settings.api_keys == []


def test_defaults_are_safe(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in [n for n in os.environ if n.startswith("DERMCAD_")]:
        monkeypatch.delenv(name)
    settings = Settings()
    assert settings.cors_origins == [] and settings.host == "127.0.0.1"
    assert settings.from_task_wait == 300 and settings.ttl_seconds == 86400
