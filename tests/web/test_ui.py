"""End to end: the web UI in headless Chromium against a real ``dermcad serve``.

Every expectation about results comes from the API's own answer (``/from_task``), fetched by the
test itself, never from constants.
"""

from __future__ import annotations

import base64
import csv
import io
import os
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from .conftest import LARGE_IMAGE
from .helpers import VIEWPORT, open_page, rgb, tile, tile_names, wait_idle
from .tiny_model import CARD as FIXTURE_CARD

pytestmark = [pytest.mark.browser, pytest.mark.slow]

BAD_NAME = "not-really-an-image.jpg"


@pytest.fixture
def bad_file(tmp_path: Path) -> Path:
    path = tmp_path / BAD_NAME
    path.write_text("this is plain text, not a JPEG\n", encoding="utf-8")
    return path


def test_empty_page_shows_models_and_disclaimer(
    browser: Any, server: str, screenshot_dir: Path
) -> None:
    page, requests, errors = open_page(browser, server)
    cards = httpx.get(f"{server}models").json()["models"]
    public = httpx.get(f"{server}public_models").json()["models"]
    options = page.locator("#model-list .model-option")
    assert options.count() == len(public)
    for card in cards:
        text = page.locator(f'.model-option[data-model-id="{card["id"]}"]').inner_text()
        assert card["display_name"] in text
        assert f"{card['test_melanoma_auc']:.3f}" in text
    assert "not a diagnosis" in page.locator("#disclaimer").inner_text()
    assert page.locator("#predict").is_disabled()
    page.screenshot(path=str(screenshot_dir / "ui-empty.png"))
    outside = [u for u in requests if not u.startswith((server, "blob:", "data:"))]
    assert outside == [], "the page loaded something from outside the server"
    assert errors == []
    page.context.close()


def test_predict_sort_details_export(
    browser: Any, server: str, test_images: list[Path], bad_file: Path, screenshot_dir: Path
) -> None:
    page, requests, errors = open_page(browser, server)
    responses: list[Any] = []
    page.on("response", lambda r: responses.append(r) if "predict" in r.url else None)

    # Load: many at once; then a duplicate name and a non-image, each refused with a notice.
    page.set_input_files("#file-input", [str(p) for p in test_images] + [str(bad_file)])
    notes = bad_file.parent / "notes.txt"
    notes.write_text("a note", encoding="utf-8")
    page.set_input_files("#file-input", [str(test_images[0]), str(notes)])
    notices = page.locator("#notices").inner_text()
    assert f"Already loaded, ignored: {test_images[0].name}" in notices
    assert "Not an image, ignored: notes.txt" in notices
    names = sorted([p.name for p in test_images] + [BAD_NAME])
    assert sorted(tile_names(page)) == names
    # Keyboard: after choosing files the next step, Predict, has the focus (not the grid's end).
    assert page.evaluate("document.activeElement.id") == "predict"

    # Before prediction: by name, toggling direction.
    assert tile_names(page) == sorted(tile_names(page), key=str.casefold)
    page.click("#sort-name")
    assert tile_names(page) == sorted(tile_names(page), key=str.casefold, reverse=True)
    page.click("#sort-name")
    page.wait_for_function(  # every real image's own size read, the text file shown as no preview
        "[...document.querySelectorAll('#tiles .tile')].every(t => t.querySelector('.tile-noimg')"
        " || t.querySelector('.tile-result').textContent.includes('×'))"
    )
    page.screenshot(path=str(screenshot_dir / "ui-loaded.png"))

    page.click("#predict")
    wait_idle(page)
    # Focus stays where the result is announced, not on <body>.
    page.wait_for_function("document.activeElement.id === 'summary'")

    # The API refused the text file (415) before queueing; the page says so next to it.
    model_id = page.eval_on_selector("input[name=model]:checked", "e => e.value")
    refused = httpx.post(
        f"{server}predict",
        params={"model_id": model_id},
        files={"file": (BAD_NAME, bad_file.read_bytes(), "image/jpeg")},
    )
    assert refused.status_code == 415
    bad_tile = tile(page, BAD_NAME)
    assert bad_tile.get_attribute("data-state") == "error"
    assert refused.json()["detail"] in bad_tile.inner_text()
    # Its own look, that no one can take for a flag: grey (no hue), dashed, grey badge.
    for part, prop in (
        (bad_tile, "backgroundColor"),
        (bad_tile.locator(".badge"), "backgroundColor"),
        (bad_tile, "borderTopColor"),
    ):
        r, g, b = rgb(part.evaluate(f"e => getComputedStyle(e).{prop}"))
        assert max(r, g, b) - min(r, g, b) < 40, (prop, r, g, b)
    assert bad_tile.evaluate("e => getComputedStyle(e).borderTopStyle") == "dashed"

    accepted = [r for r in responses if r.status == 200 and "predict_bulk" in r.url]
    assert len(accepted) == 1
    task_id = accepted[0].json()["task_uuid"]
    # Progress came from the task's status; the results from /from_task without waiting.
    assert f"{server}tasks/{task_id}" in requests
    assert f"{server}from_task/{task_id}?wait=0" in requests
    items = httpx.get(f"{server}from_task/{task_id}", params={"wait": 0}).json()
    assert [i["name"] for i in items] == [p.name for p in test_images]  # upload order

    # Each tile: colour and text from the API's own answer.
    for item in items:
        t = tile(page, item["name"])
        flagged = item["prediction"]["target"]
        assert t.get_attribute("data-state") == ("flagged" if flagged else "clear")
        r, _, b = rgb(t.evaluate("e => getComputedStyle(e).backgroundColor"))
        assert (r > b + 20) if flagged else (b > r + 20), (item["name"], r, b)
        text = t.inner_text()
        p, threshold = item["melanoma_probability"], item["threshold"]
        # Both numbers the flag was decided on, and how they compare.
        assert (
            f"{100 * p:.1f} % {'≥' if flagged else '<'} threshold {100 * threshold:.1f} %" in text
        )
        assert ("Melanoma suspected" if flagged else "Not flagged") in text
        top = max(item["probabilities"], key=item["probabilities"].get)
        if not flagged:
            assert f"Class {item['prediction']['prediction']}" in text
        elif top != "melanoma":  # flagged although another class is more probable: named
            assert f"Most probable {top}" in text and "Class melanoma" not in text

    flagged = sum(i["prediction"]["target"] for i in items)
    summary = page.locator("#summary").inner_text()
    assert summary == f"{flagged} flagged of {len(items)} analysed · 1 not analysed"

    # After prediction: by melanoma probability, highest first, then toggled.
    by_prob = [i["name"] for i in sorted(items, key=lambda i: -i["melanoma_probability"])]
    assert tile_names(page)[: len(items)] == by_prob
    page.click("#sort-prob")
    assert tile_names(page)[: len(items)] == by_prob[::-1]
    page.click("#sort-prob")
    page.screenshot(path=str(screenshot_dir / "ui-results.png"))
    check_details(page, items, screenshot_dir)
    check_model_card(page, server, screenshot_dir)
    check_csv(page, items)
    check_report_and_reset(page, items, screenshot_dir)
    assert [u for u in requests if not u.startswith((server, "blob:", "data:"))] == []
    assert errors == []
    page.context.close()


def check_details(page: Any, items: list[dict[str, Any]], screenshot_dir: Path) -> None:
    item = next(i for i in items if i["name"] == LARGE_IMAGE)
    opener = tile(page, LARGE_IMAGE).locator("button")
    opener.focus()
    page.keyboard.press("Enter")
    dialog = page.locator("#details")
    assert dialog.evaluate("d => d.open")
    assert page.locator("#details-title").inner_text() == LARGE_IMAGE
    bars = page.locator("#details .bar-row")
    assert bars.count() == len(item["probabilities"]) == 8
    for k in range(8):
        row = bars.nth(k)
        expected = item["probabilities"][row.get_attribute("data-class")]
        assert float(row.get_attribute("data-p")) == pytest.approx(expected, abs=1e-12)
    body = page.locator("#details-body").inner_text()
    assert f"{item['width']} × {item['height']} px" in body
    assert (item["width"], item["height"]) == (3072, 2304)
    meta = item["metadata"]
    for value in (meta["net_type"], meta["origin"], str(meta["img_size"])):
        assert value in body

    # The decision says why, with both numbers.
    verdict = page.locator("#details .verdict").inner_text()
    p, threshold = f"{100 * item['melanoma_probability']:.1f} %", f"{100 * item['threshold']:.1f} %"
    assert p in verdict and f"threshold of {threshold}" in verdict
    assert (
        "because the melanoma probability" if item["prediction"]["target"] else "below"
    ) in verdict

    # Heat map overlay from item.heatmap_url: the melanoma map, and the caption says so.
    assert item["heatmap_class"] == "melanoma"
    caption = page.locator("#details .heat-caption").inner_text()
    assert caption.startswith("Melanoma heat map") and "melanoma score" in caption
    toggle = page.locator("#heatmap-toggle")
    assert item["heatmap_url"] and toggle.is_enabled()
    with page.expect_response(lambda r: "heatmaps" in r.url) as heat:
        toggle.click()
    assert heat.value.status == 200 and heat.value.headers["content-type"].startswith("image/png")
    overlay = page.locator("#details .heatmap")
    page.wait_for_function("document.querySelector('#details .heatmap').complete")
    assert overlay.is_visible() and overlay.evaluate("i => i.naturalWidth") > 0
    assert toggle.get_attribute("aria-pressed") == "true"
    page.screenshot(path=str(screenshot_dir / "ui-details-heatmap.png"))

    # Focus stays in the dialog; Escape closes it and gives focus back to the tile.
    for _ in range(8):
        page.keyboard.press("Tab")
        assert page.evaluate("document.querySelector('#details').contains(document.activeElement)")
    page.keyboard.press("Escape")
    assert not dialog.evaluate("d => d.open")
    assert opener.evaluate("b => b === document.activeElement")


def check_model_card(page: Any, server: str, screenshot_dir: Path) -> None:
    model_id = page.eval_on_selector("input[name=model]:checked", "e => e.value")
    manifest = httpx.get(f"{server}models/{model_id}").json()
    page.locator(f'.model-option[data-model-id="{model_id}"] .model-card-btn').click()
    page.wait_for_selector("#card-perf")
    text = page.locator("#model-card-body").inner_text()
    test = manifest["metrics"]["test"]
    assert manifest["intended_use"] in text
    assert "not a diagnosis" in text
    assert f"{test['melanoma_auc']:.3f}" in text
    assert f"{100 * test['sensitivity']:.1f} %" in text
    assert f"{100 * test['specificity']:.1f} %" in text
    assert f"{manifest['calibration']['threshold']:.3f}" in text
    assert manifest["calibration"]["operating_point"] in text
    assert manifest["net_type"] in text and manifest["origin"] in text
    assert "**" not in text and "`" not in text and "{}" not in text
    if manifest["card"] != FIXTURE_CARD:  # the shipped models, for the screenshots of docs/ui.md
        assert os.environ.get("DERMCAD_WEB_TEST_URL"), "the test server serves another card"
        page.screenshot(path=str(screenshot_dir / "ui-model-card.png"))
        page.keyboard.press("Escape")
        return
    # The card as formatted text: no Markdown marks, no markup from the card run, no "{}".
    notes = page.locator("#model-card-body .card-text")
    assert notes.locator("strong").first.inner_text() == "Random weights"
    assert notes.locator("em").first.inner_text() == "Sci Data"
    assert notes.locator("li").count() == 2
    assert notes.locator("a").count() == 1  # the javascript: link is text, not a link
    assert notes.locator("a").get_attribute("href") == "https://www.isic-archive.com"
    assert '<img src=x onerror="window.cardInjected=1"> stays text.' in text
    assert page.evaluate("window.cardInjected") is None and notes.locator("img").count() == 0
    # Every test set with its size and figures.
    sets = page.locator("#model-card-body .test-sets").inner_text()
    for name, m in manifest["metrics"].items():
        assert f"{name}: {m['n_images']:,} images" in sets
    assert "150 images, 75 melanoma. Melanoma AUC" in sets
    page.screenshot(path=str(screenshot_dir / "ui-model-card.png"))
    page.keyboard.press("Escape")
    assert not page.locator("#model-card").evaluate("d => d.open")


def check_csv(page: Any, items: list[dict[str, Any]]) -> None:
    with page.expect_download() as download:
        page.click("#export-csv")
    assert re.fullmatch(r"dermcad-results-\d{12}\.csv", download.value.suggested_filename)
    path = Path(download.value.path())
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    by_name = {row["name"]: row for row in rows}
    assert len(rows) == len(items) + 1
    for item in items:
        row = by_name[item["name"]]
        probability = float(row["melanoma_probability"])
        assert probability == pytest.approx(item["melanoma_probability"], abs=1e-12)
        assert row["flagged_melanoma"] == ("yes" if item["prediction"]["target"] else "no")
        assert row["predicted_class"] == item["prediction"]["prediction"]
        assert (int(row["width"]), int(row["height"])) == (item["width"], item["height"])
        for name, p in item["probabilities"].items():
            assert float(row[f"p_{name}"]) == pytest.approx(p, abs=1e-12)
    assert by_name[BAD_NAME]["error"] and by_name[BAD_NAME]["melanoma_probability"] == ""


def check_report_and_reset(page: Any, items: list[dict[str, Any]], screenshot_dir: Path) -> None:
    page.emulate_media(media="print")
    page.evaluate("window.dispatchEvent(new Event('beforeprint'))")
    report = page.locator("#report")
    assert report.is_visible() and not page.locator(".layout").is_visible()
    assert report.locator("tbody tr").count() == len(items) + 1
    flagged = sum(i["prediction"]["target"] for i in items)
    assert f"{flagged} flagged as suspected melanoma" in report.inner_text()
    assert "not a diagnosis" in report.inner_text()
    page.wait_for_function("[...document.querySelectorAll('#report img')].every(i => i.complete)")
    page.screenshot(path=str(screenshot_dir / "ui-report.png"), full_page=True)
    page.emulate_media(media="screen")

    page.set_viewport_size({"width": 768, "height": 1024})
    assert page.evaluate("document.documentElement.scrollWidth") <= 768
    page.screenshot(path=str(screenshot_dir / "ui-tablet.png"))
    page.set_viewport_size(VIEWPORT)

    page.click("#reset")
    assert tile_names(page) == []
    assert page.locator("#predict").is_disabled() and page.locator("#export-csv").is_disabled()


def test_drag_and_drop_loads_images_once(
    browser: Any, server: str, test_images: list[Path]
) -> None:
    page, _, errors = open_page(browser, server)
    files = [
        {"name": p.name, "b64": base64.b64encode(p.read_bytes()).decode()} for p in test_images[:2]
    ]
    drop = """files => {
      const transfer = new DataTransfer();
      for (const f of files) {
        const bytes = Uint8Array.from(atob(f.b64), c => c.charCodeAt(0));
        transfer.items.add(new File([bytes], f.name, { type: "image/jpeg" }));
      }
      const panel = document.querySelector(".images-panel");
      const init = { dataTransfer: transfer, bubbles: true, cancelable: true };
      panel.dispatchEvent(new DragEvent("dragover", init));
      panel.dispatchEvent(new DragEvent("drop", init));
    }"""
    page.evaluate(drop, files)
    assert tile_names(page) == sorted(f["name"] for f in files)
    page.evaluate(drop, files[:1])  # the same name again
    assert tile_names(page) == sorted(f["name"] for f in files)
    assert f"Already loaded, ignored: {files[0]['name']}" in page.locator("#notices").inner_text()
    assert page.locator("#predict-label").inner_text() == "Predict 2 images"
    assert errors == []
    page.context.close()


def test_model_radios_keep_keyboard_focus(browser: Any, server: str) -> None:
    """Choosing a model with the keyboard keeps focus on the radio (the list is not redrawn)."""
    listed = httpx.get(f"{server}public_models").json()["models"]
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.route(
        "**/public_models", lambda route: route.fulfill(json={"models": [*listed, "second-model"]})
    )
    page.goto(server)
    first = page.locator("input[name=model]").first
    first.focus()
    page.keyboard.press("ArrowDown")
    second = page.locator('.model-option[data-model-id="second-model"]')
    assert second.locator("input").evaluate("r => r.checked && r === document.activeElement")
    assert "selected" in (second.get_attribute("class") or "")
    context.close()


def test_api_docs_render_with_the_network_blocked(browser: Any, server: str) -> None:
    """/docs as in a clinic without internet: every request off this server is aborted."""
    context = browser.new_context(viewport=VIEWPORT)
    blocked: list[str] = []

    def only_this_server(route: Any) -> None:
        if route.request.url.startswith(server):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort("internetdisconnected")

    context.route("**/*", only_this_server)
    page = context.new_page()
    page.goto(f"{server}docs")
    page.wait_for_selector(".swagger-ui .info .title", timeout=30_000)
    assert page.locator(".swagger-ui .info .title").inner_text().startswith("dermcad")
    assert page.locator(".swagger-ui .opblock").count() >= 5  # the operations are listed
    assert "/predict_bulk" in page.locator(".swagger-ui").inner_text()
    assert blocked == []
    context.close()
