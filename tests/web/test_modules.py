"""The page's pure JavaScript modules, run in headless Chromium from a plain static file server
(no API needed): CSV quoting, sorting, file triage, naming the refused file, error messages."""

from __future__ import annotations

import csv
import functools
import io
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from dermcad.web import static_dir

pytestmark = pytest.mark.browser


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def page(browser: Any) -> Iterator[Any]:
    handler = functools.partial(_QuietHandler, directory=str(static_dir()))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    context = browser.new_context()
    page = context.new_page()
    # A blank page of the same origin, so that module imports resolve against the static folder.
    page.route(
        "**/blank.html",
        lambda route: route.fulfill(body="<!doctype html>", content_type="text/html"),
    )
    page.goto(f"http://127.0.0.1:{httpd.server_address[1]}/blank.html")
    yield page
    context.close()
    httpd.shutdown()
    httpd.server_close()


def run(page: Any, module: str, body: str, arg: Any = None) -> Any:
    return page.evaluate(
        f"async (arg) => {{ const m = await import('./js/{module}.js'); {body} }}", arg
    )


def test_csv_quotes_names_and_keeps_class_order(page: Any) -> None:
    items = [
        {"name": 'odd, "name".jpg', "result": None, "error": "Not a supported image: bad"},
        {
            "name": "a.jpg",
            "result": {
                "probabilities": {"melanoma": 0.75, "nevus": 0.25},
                "melanoma_probability": 0.75,
                "prediction": {"target": True, "prediction": "melanoma"},
                "threshold": 0.3,
                "width": 10,
                "height": 20,
                "model_id": "m",
                "tta": 1,
                "error": None,
            },
        },
    ]
    text = run(page, "csv", "return m.resultsCsv(arg, ['melanoma', 'nevus']);", items)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["name"] for r in rows] == ['odd, "name".jpg', "a.jpg"]
    assert rows[0]["error"] == "Not a supported image: bad" and rows[0]["p_melanoma"] == ""
    assert rows[1]["flagged_melanoma"] == "yes"
    assert (rows[1]["p_melanoma"], rows[1]["p_nevus"]) == ("0.75", "0.25")
    assert list(rows[1])[-6:] == [
        "p_melanoma",
        "p_nevus",
        "error",
        "in_domain",
        "ood_score",
        "ood_reason",
    ]


def test_csv_neutralises_spreadsheet_formulas_in_text_only(page: Any) -> None:
    items = [{"name": '=HYPERLINK("x").jpg', "result": None, "error": "@bad"}]
    text = run(page, "csv", "return m.resultsCsv(arg, ['melanoma']);", items)
    row = next(csv.DictReader(io.StringIO(text)))
    assert row["name"] == '\'=HYPERLINK("x").jpg'
    assert row["error"] == "'@bad"


def test_sort_by_probability_puts_unanalysed_last(page: Any) -> None:
    items = [
        {"name": "b", "result": {"melanoma_probability": 0.2}},
        {"name": "c", "result": None},
        {"name": "a", "result": {"probabilities": {"melanoma": 0.9}}},
        {"name": "img10", "result": {"melanoma_probability": 0.2}},
        {"name": "img9", "result": {"melanoma_probability": 0.5}},
    ]
    order = "return m.sortItems(arg[0], arg[1], arg[2]).map(i => i.name);"
    assert run(page, "sort", order, [items, "probability", "desc"]) == [
        "a",
        "img9",
        "b",
        "img10",
        "c",
    ]
    assert run(page, "sort", order, [items, "probability", "asc"]) == [
        "b",
        "img10",
        "img9",
        "a",
        "c",
    ]
    assert run(page, "sort", order, [items, "name", "asc"]) == ["a", "b", "c", "img9", "img10"]


def test_triage_refuses_duplicates_and_non_images(page: Any) -> None:
    body = """
      const f = (name, type) => new File(["x"], name, { type });
      const offered = [f('a.jpg', 'image/jpeg'), f('a.jpg', 'image/jpeg'), f('b.png', ''),
                       f('notes.txt', 'text/plain'), f('c.jpg', 'image/jpeg')];
      const r = m.triageFiles(offered, new Set(['c.jpg']));
      return [r.added.map(x => x.name), r.duplicates, r.rejected];
    """
    assert run(page, "files", body) == [["a.jpg", "b.png"], ["a.jpg", "c.jpg"], ["notes.txt"]]


def test_refused_file_is_the_longest_name_in_the_detail(page: Any) -> None:
    body = (
        "return m.fileNamedIn(arg, [{name: 'a.jpg'}, {name: 'aa.jpg'}, {name: 'b.jpg'}])"
        "?.name ?? null;"
    )
    assert run(page, "files", body, "aa.jpg: not a JPEG or PNG image") == "aa.jpg"
    assert run(page, "files", body, "too many files") is None


def test_error_messages_name_the_kind_and_keep_the_reason(page: Any) -> None:
    body = "return arg.map(([s, d]) => m.describeError(s, d));"
    cases = [
        [413, "x.jpg: larger than 25 MiB"],
        [415, "x.jpg: not an image"],
        [422, "bad"],
        [404, "unknown model"],
        [0, ""],
        [503, ""],
    ]
    messages = run(page, "api", body, cases)
    assert messages[0].startswith("Too large") and "x.jpg: larger than 25 MiB" in messages[0]
    assert messages[1].startswith("Not a supported image") and "x.jpg" in messages[1]
    assert "bad" in messages[2] and "unknown model" in messages[3]
    assert "Cannot reach the dermcad server" in messages[4]
    assert messages[5].startswith("Service unavailable")
    detail = "return m.detailText(arg);"
    assert run(page, "api", detail, {"detail": [{"msg": "one"}, {"msg": "two"}]}) == "one; two"
