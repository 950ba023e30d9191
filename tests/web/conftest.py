"""Fixtures of the browser tests: a real ``dermcad serve`` over a registry holding a real tiny
exported model, and headless Chromium (Debian's ``chromium``) driven by Playwright.

``DERMCAD_WEB_TEST_URL`` points the tests at an already running server instead (for debugging);
``DERMCAD_SCREENSHOTS`` names a folder (e.g. ``docs/img``) where the main states are saved.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .tiny_model import publish_tiny_model

ISIC_REAL = Path(__file__).resolve().parents[1] / "fixtures" / "isic-uda1" / "images"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Five ordinary images and one large one (3072 x 2304), CC0 originals committed as test fixtures.
IMAGE_NAMES = [
    "ISIC_0000003.jpg",
    "ISIC_0000004.jpg",
    "ISIC_0000379.jpg",
    "ISIC_0000157.jpg",
    "ISIC_0000166.jpg",
    "ISIC_0000538.jpg",
]
LARGE_IMAGE = "ISIC_0000379.jpg"
# Server limits the error tests rely on (a server given by DERMCAD_WEB_TEST_URL must use them too):
# every fixture image is far below MAX_FILE_BYTES, and the main test sends 7 files at most.
MAX_FILE_BYTES = 2_000_000
MAX_FILES = 8


@pytest.fixture(scope="session")
def test_images() -> list[Path]:
    paths = [ISIC_REAL / name for name in IMAGE_NAMES]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        pytest.fail(f"real test images not found: {missing}")
    return paths


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(base: str, process: subprocess.Popen[bytes] | None, log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            tail = log.read_text()[-3000:]
            pytest.fail(f"dermcad serve exited with {process.returncode}:\n{tail}")
        try:
            if httpx.get(f"{base}public_models", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    pytest.fail(f"dermcad serve did not answer within 90 s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, test_images: list[Path]) -> Iterator[str]:
    """Base URL (ending in /) of a running ``dermcad serve`` with the tiny model published."""
    external = os.environ.get("DERMCAD_WEB_TEST_URL")
    if external:
        yield external.rstrip("/") + "/"
        return
    root = tmp_path_factory.mktemp("serve")
    registry = root / "registry"
    publish_tiny_model(registry, test_images)
    port = _free_port()
    env = {
        **os.environ,
        "DERMCAD_REGISTRY": str(registry),
        "DERMCAD_DATA_DIR": str(root / "data"),
        "DERMCAD_MAX_FILE_BYTES": str(MAX_FILE_BYTES),
        "DERMCAD_MAX_FILES": str(MAX_FILES),
    }
    log = root / "serve.log"
    command = [
        sys.executable,
        "-m",
        "dermcad.cli.main",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/"
    try:
        _wait_ready(base, process, log)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def screenshot_dir(tmp_path: Path) -> Path:
    """Where screenshots go: ``DERMCAD_SCREENSHOTS`` if set, else a temporary folder."""
    target = os.environ.get("DERMCAD_SCREENSHOTS")
    if not target:
        return tmp_path
    folder = Path(target).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    return folder
