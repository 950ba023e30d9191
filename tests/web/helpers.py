"""Page helpers shared by the browser tests."""

from __future__ import annotations

import re
from typing import Any

VIEWPORT = {"width": 1280, "height": 800}


def rgb(css: str) -> tuple[int, ...]:
    match = re.match(r"rgba?\((\d+), (\d+), (\d+)", css)
    assert match, css
    return tuple(int(v) for v in match.groups())


def tile_names(page: Any) -> list[str]:
    return list(page.eval_on_selector_all("#tiles .tile", "ts => ts.map(t => t.dataset.name)"))


def tile(page: Any, name: str) -> Any:
    return page.locator(f'#tiles .tile[data-name="{name}"]')


def open_page(browser: Any, server: str, **context: Any) -> tuple[Any, list[str], list[str]]:
    """A fresh page with the models loaded; returns it, its requested URLs and its JS errors."""
    ctx = browser.new_context(viewport=VIEWPORT, accept_downloads=True, **context)
    page = ctx.new_page()
    requests: list[str] = []
    errors: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server)
    page.wait_for_selector("#model-list .model-option")
    return page, requests, errors


def wait_idle(page: Any) -> None:
    page.wait_for_function(
        "document.querySelector('#predict-label').textContent !== 'Analysing…'", timeout=120_000
    )
