"""What the docs tell third-party clients holds: the README's ``DERMCAD_CORS_ORIGINS`` value lets
the thesis' SvelteKit UI in (and nothing else), the start line it quotes is the one printed, and
docs/api.md's Python client runs against a live server."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from dermcad.api.app import create_app
from dermcad.cli.main import app
from dermcad.settings import load_settings
from reliability.live import LiveServer
from serving.tiny import Tiny

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
FIXTURE = ROOT / "tests" / "fixtures" / "isic-uda1" / "images" / "ISIC_0000003.jpg"
THESIS_UI = ["http://127.0.0.1:5173", "http://localhost:5173"]
OTHERS = ["http://localhost:3000", "http://127.0.0.1:5174", "https://127.0.0.1:5173", "null"]


def documented_origins() -> str:
    values = re.findall(r"^DERMCAD_CORS_ORIGINS=(\S+) ", README.read_text(encoding="utf-8"), re.M)
    assert len(values) == 1, f"README.md: {len(values)} DERMCAD_CORS_ORIGINS=... command lines"
    return values[0]


def preflight(client: TestClient, origin: str) -> str | None:
    answer = client.options(
        "/predict_bulk",
        headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
    )
    return answer.headers.get("access-control-allow-origin")


def test_the_documented_origins_let_the_thesis_ui_in_and_no_other(
    tiny: Tiny, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DERMCAD_CORS_ORIGINS", documented_origins())
    settings = load_settings(registry=tiny.registry, data_dir=tmp_path / "data", workers=1)
    with TestClient(create_app(settings)) as client:
        for origin in THESIS_UI:
            assert preflight(client, origin) == origin
            answer = client.get("/public_models", headers={"Origin": origin})
            assert answer.headers.get("access-control-allow-origin") == origin
        for origin in OTHERS:
            assert preflight(client, origin) is None, origin


def test_the_readme_quotes_the_start_line_that_serve_prints(
    tiny: Tiny, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: None)
    readme = " ".join(README.read_text(encoding="utf-8").split())
    for origins in (documented_origins(), ""):
        env = {
            "DERMCAD_REGISTRY": str(tiny.registry),
            "DERMCAD_DATA_DIR": str(tmp_path),
            "DERMCAD_CORS_ORIGINS": origins,
        }
        result = CliRunner().invoke(app, ["serve", "--port", "1"], env=env)
        assert result.exit_code == 0, result.output
        (line,) = [text for text in result.output.splitlines() if text.startswith("CORS:")]
        assert f"`{line}`" in readme, line


def client_snippet() -> str:
    text = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    section = text[text.index("## A client in a few lines") :]
    match = re.search(r"^```python\n(.*?)^```", section, re.S | re.M)
    assert match, "docs/api.md: no Python block under 'A client in a few lines'"
    return match[1]


@pytest.mark.slow
def test_the_python_client_of_the_docs_runs_against_a_live_server(
    tiny: Tiny, tmp_path: Path
) -> None:
    snippet = client_snippet()
    default = 'base = "http://127.0.0.1:8000"\n'
    assert default in snippet
    (tmp_path / "lesion.jpg").write_bytes(FIXTURE.read_bytes())
    with LiveServer(tiny.registry, tmp_path / "data", tmp_path / "serve.log", workers=1) as server:
        script = snippet.replace(default, f'base = "{server.url}"\n')
        result = subprocess.run(
            [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True,
            timeout=120,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    last = result.stdout.splitlines()[-1]
    found = re.fullmatch(r"lesion\.jpg (\{.*\}) (0\.\d+|1\.0|[0-9.e-]+) None", last)
    assert found, result.stdout
    assert "'prediction': '" in found[1] and "'target': " in found[1]
