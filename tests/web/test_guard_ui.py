"""The out-of-distribution guard in the web UI: a page of text is shown as not dermoscopy (own
look, the plain sentence, never flagged) and a real dermoscopy image is analysed as usual, against
a real ``dermcad serve`` of the shipped package (which holds a guard)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw

from .conftest import _free_port, _wait_ready
from .helpers import open_page, tile, wait_idle

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SHIPPED = Path(__file__).resolve().parents[2] / "models" / "ham10000-lite0-224"
SENTENCE = "Not recognised as a dermoscopy image: no melanoma assessment"


@pytest.fixture(scope="module")
def guarded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("guarded-serve")
    shutil.copytree(SHIPPED, root / "registry" / SHIPPED.name)
    port = _free_port()
    env = {**os.environ, "DERMCAD_REGISTRY": str(root / "registry")}
    env["DERMCAD_DATA_DIR"] = str(root / "data")
    log = root / "serve.log"
    command = [sys.executable, "-m", "dermcad.cli.main", "serve", "--host", "127.0.0.1"]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}/"
    try:
        _wait_ready(base, process, log)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=15)


def test_a_page_of_text_is_not_assessed(
    browser: Any, guarded_server: str, test_images: list[Path], tmp_path: Path, screenshot_dir: Path
) -> None:
    letter = tmp_path / "letter.png"
    page_image = Image.new("RGB", (300, 400), (250, 250, 245))
    draw = ImageDraw.Draw(page_image)
    for row in range(18):
        draw.text((12, 10 + row * 21), "Referral letter, clinic, page 2 of 3", fill=(20, 20, 20))
    page_image.save(letter)
    real = test_images[0]
    page, _, errors = open_page(browser, guarded_server)
    page.set_input_files("#file-input", [str(letter), str(real)])
    page.click("#predict")
    wait_idle(page)
    outside = tile(page, letter.name)
    assert outside.get_attribute("data-state") == "outside"
    assert SENTENCE in outside.inner_text()
    assert "Melanoma suspected" not in outside.inner_text()
    assert tile(page, real.name).get_attribute("data-state") in ("flagged", "clear")
    # The summary line counts it apart: analysed, but without a melanoma assessment.
    summary = page.locator("#summary").inner_text()
    assert "of 2 analysed" in summary
    assert "1 not recognised as dermoscopy (no melanoma assessment)" in summary
    page.screenshot(path=str(screenshot_dir / "ui-not-dermoscopy.png"))
    outside.locator("button").click()
    assert SENTENCE in page.locator(".verdict-outside").inner_text()
    assert errors == []
    page.context.close()
