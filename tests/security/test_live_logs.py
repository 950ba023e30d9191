"""A live ``dermcad serve`` (a real process, its own log file) started with every logger at DEBUG
holds no image bytes and no text hidden in images in its log, whatever the uploads."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from PIL import Image

from api.conftest import Tiny
from reliability.corpus import jpeg, pixels
from security.test_privacy import SECRET, _png_with_text

# Every logger the server process has imported, and the root, at DEBUG before the app is made.
LAUNCH = """
import logging, sys
logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
import PIL.Image, PIL.PngImagePlugin, PIL.TiffImagePlugin, PIL.JpegImagePlugin, multipart
import fastapi, starlette, uvicorn, onnxruntime
import dermcad.cli.main as cli
for name in list(logging.root.manager.loggerDict):
    logging.getLogger(name).setLevel(logging.DEBUG)
sys.argv[0] = "dermcad"
cli.main()
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text(errors="replace")[-3000:]
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail(f"dermcad serve did not start:\n{log.read_text(errors='replace')[-3000:]}")


def test_the_live_server_log_at_debug_holds_no_image_bytes(tiny: Tiny, tmp_path: Path) -> None:
    marker = b"IMAGE-BYTES-MARKER-7f3a"
    noisy = io.BytesIO()
    Image.fromarray(pixels(64, 64, 9)).save(noisy, format="PNG")
    sent = {
        "good.png": _png_with_text(),
        "noisy.png": noisy.getvalue(),
        "corrupt.jpg": jpeg()[:40] + marker * 50,
        "text.jpg": marker * 10,
    }
    port = _free_port()
    env = {
        **os.environ,
        "DERMCAD_REGISTRY": str(tiny.registry),
        "DERMCAD_DATA_DIR": str(tmp_path / "data"),
        "DERMCAD_WORKERS": "1",
    }
    log = tmp_path / "serve.log"
    command = [sys.executable, "-c", LAUNCH, "serve", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait(base, process, log)
        done = 0
        for name, data in sent.items():
            response = httpx.post(f"{base}/predict", files={"file": (name, data, "image/jpeg")})
            if response.status_code == 200:
                task = response.json()["task_uuid"]
                result = httpx.get(f"{base}/from_task/{task}?wait=60", timeout=70)
                assert result.status_code == 200
                done += 1
        assert done >= 2  # the two valid images were analysed
    finally:
        process.terminate()
        process.wait(timeout=30)
    logged = log.read_bytes()
    assert b"DEBUG" in logged, "the server did not log at DEBUG: the test proves nothing"
    assert b"POST /predict" in logged  # the requests themselves were logged
    at = logged.find(marker)
    assert at < 0, logged[max(0, at - 300) : at + 100]
    assert SECRET.encode() not in logged and b"SECRET-GPS-DATUM" not in logged
    for data in sent.values():
        window = data[len(data) // 2 : len(data) // 2 + 24]
        for form in (repr(window)[2:-1], window.hex(), window.hex(" ")):
            assert form.encode() not in logged
