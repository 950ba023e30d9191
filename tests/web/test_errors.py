"""API errors in the page: each shown next to the file it concerns, with the server's reason."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from .conftest import MAX_FILE_BYTES, MAX_FILES
from .helpers import open_page, tile, wait_idle

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def selected_model(page: Any) -> str:
    return str(page.eval_on_selector("input[name=model]:checked", "e => e.value"))


def test_network_failure_is_shown_next_to_each_file(
    browser: Any, server: str, test_images: list[Path]
) -> None:
    page, _, _ = open_page(browser, server)
    page.route("**/predict_bulk**", lambda route: route.abort())
    page.set_input_files("#file-input", [str(p) for p in test_images[:2]])
    page.click("#predict")
    wait_idle(page)
    for path in test_images[:2]:
        t = tile(page, path.name)
        assert t.get_attribute("data-state") == "error"
        assert "Cannot reach the dermcad server" in t.inner_text()
    # A network failure may be retried: Predict is offered again, and now it works.
    assert page.locator("#predict").is_enabled()
    page.unroute("**/predict_bulk**")
    page.click("#predict")
    wait_idle(page)
    for path in test_images[:2]:
        assert tile(page, path.name).get_attribute("data-state") in ("flagged", "clear")
    page.context.close()


def test_too_large_file_is_refused_and_the_rest_predicted(
    browser: Any, server: str, test_images: list[Path], tmp_path: Path
) -> None:
    big = tmp_path / "noise-too-large.png"
    noise = np.random.default_rng(0).integers(0, 256, (1000, 1000, 3), dtype=np.uint8)
    Image.fromarray(noise).save(big)
    assert big.stat().st_size > MAX_FILE_BYTES
    page, _, _ = open_page(browser, server)
    page.set_input_files("#file-input", [str(big), str(test_images[3])])
    page.click("#predict")
    wait_idle(page)

    answer = httpx.post(
        f"{server}predict",
        params={"model_id": selected_model(page)},
        files={"file": (big.name, big.read_bytes(), "image/png")},
    )
    assert answer.status_code == 413
    refused = tile(page, big.name)
    assert refused.get_attribute("data-state") == "error"
    assert "Too large" in refused.inner_text()
    assert answer.json()["detail"] in refused.inner_text()
    assert tile(page, test_images[3].name).get_attribute("data-state") in ("flagged", "clear")
    assert f"{big.name} was refused" in page.locator("#notices").inner_text()
    page.context.close()


def test_files_refused_for_size_are_not_sent_again_one_by_one(
    browser: Any, server: str, test_images: list[Path], tmp_path: Path
) -> None:
    """Three files over the size limit in one batch: one refusal, then one upload of the rest."""
    rng = np.random.default_rng(1)
    big = []
    for i, side in enumerate((1000, 1100, 1200)):
        big.append(tmp_path / f"noise-{i}.png")
        Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(big[-1])
        assert big[-1].stat().st_size > MAX_FILE_BYTES
    page, _, _ = open_page(browser, server)
    uploads: list[int] = []
    page.on("response", lambda r: uploads.append(r.status) if "/predict" in r.url else None)
    page.set_input_files("#file-input", [str(p) for p in [*big, *test_images[3:5]]])
    page.click("#predict")
    wait_idle(page)
    assert uploads == [413, 200]
    for path in big:
        assert tile(page, path.name).get_attribute("data-state") == "error"
        assert "Too large" in tile(page, path.name).inner_text()
    for path in test_images[3:5]:
        assert tile(page, path.name).get_attribute("data-state") in ("flagged", "clear")
    page.context.close()


def test_too_many_files_is_shown_on_every_file(
    browser: Any, server: str, test_images: list[Path], tmp_path: Path
) -> None:
    copies = []
    for i in range(MAX_FILES + 1):
        copies.append(tmp_path / f"copy-{i:02d}.jpg")
        shutil.copyfile(test_images[3], copies[-1])
    page, _, _ = open_page(browser, server)
    page.set_input_files("#file-input", [str(p) for p in copies])
    page.click("#predict")
    wait_idle(page)
    answer = httpx.post(
        f"{server}predict_bulk",
        params={"model_id": selected_model(page)},
        files=[("files", (p.name, p.read_bytes(), "image/jpeg")) for p in copies],
    )
    assert answer.status_code in (413, 422)
    for path in copies:
        t = tile(page, path.name)
        assert t.get_attribute("data-state") == "error"
        assert answer.json()["detail"] in t.inner_text()
    assert answer.json()["detail"] in page.locator("#notices").inner_text()
    page.context.close()


def test_unknown_model_404_is_shown_on_the_file(
    browser: Any, server: str, test_images: list[Path]
) -> None:
    """A model withdrawn after the page listed it: the real API answers 404 for the prediction."""
    listed = httpx.get(f"{server}public_models").json()["models"]
    context = browser.new_context()
    page = context.new_page()
    page.route(
        "**/public_models",
        lambda route: route.fulfill(json={"models": [*listed, "withdrawn-model"]}),
    )
    page.goto(server)
    page.locator('.model-option[data-model-id="withdrawn-model"] input').check()
    page.set_input_files("#file-input", [str(test_images[3])])
    page.click("#predict")
    wait_idle(page)
    answer = httpx.post(
        f"{server}predict",
        params={"model_id": "withdrawn-model"},
        files={"file": (test_images[3].name, test_images[3].read_bytes(), "image/jpeg")},
    )
    assert answer.status_code == 404
    t = tile(page, test_images[3].name)
    assert t.get_attribute("data-state") == "error"
    assert "Not found" in t.inner_text() and answer.json()["detail"] in t.inner_text()
    context.close()
