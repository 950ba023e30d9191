"""The bad-input corpus against the real app: every refusal is a 4xx with a reason naming the file,
nothing is written under the data directory, and the server stays healthy afterwards.

(tests/api/test_validation.py checks single refusals one by one; here the whole corpus runs
against one server, with the on-disk and health invariants after every request.)
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from api.conftest import make_settings
from dermcad.api.app import create_app
from dermcad.units import human_bytes
from serving.tiny import Tiny

from .corpus import Bad, bad_files, encode, jpeg, pixels, png, png_rgb16
from .disk import stored_files, task_rows

FILE_LIMIT = 2_000_000


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bad-input") / "data"


@pytest.fixture(scope="module")
def app_client(tiny: Tiny, data_dir: Path) -> Iterator[TestClient]:
    settings = make_settings(tiny, data_dir, max_file_bytes=FILE_LIMIT, from_task_wait=30.0)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def _snapshot(data_dir: Path) -> tuple[list[str], list[tuple[str, str]]]:
    return stored_files(data_dir), task_rows(data_dir)


def _healthy(client: TestClient) -> None:
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").json()["ready"] is True


def _refused(
    client: TestClient, data_dir: Path, method: str, url: str, **kwargs: Any
) -> tuple[int, str]:
    """Send one request that must be refused; check the invariants; return status and reason."""
    before = _snapshot(data_dir)
    response = client.request(method, url, **kwargs)
    assert 400 <= response.status_code < 500, response.text[:300]
    assert response.headers["content-type"].startswith("application/json")
    detail = response.json()["detail"]
    assert isinstance(detail, str) and len(detail) > 5
    assert _snapshot(data_dir) == before, "a refused request changed the data directory"
    _healthy(client)
    return response.status_code, detail


@pytest.mark.parametrize("bad", bad_files(), ids=lambda b: b.id)
@pytest.mark.parametrize("endpoint", ["/predict", "/predict_bulk"])
def test_bad_file_is_refused_with_its_reason(
    app_client: TestClient, data_dir: Path, bad: Bad, endpoint: str
) -> None:
    if endpoint == "/predict":
        files: Any = {"file": (bad.name, bad.data, "image/jpeg")}
    else:  # a good image first: nothing of the request may be kept
        files = [("files", ("good.png", png(), "image/png")), ("files", (bad.name, bad.data, ""))]
    status, detail = _refused(app_client, data_dir, "POST", endpoint, files=files)
    assert status == bad.status
    assert detail.startswith(bad.name) and bad.reason in detail


def test_zero_byte_part_among_good_files(app_client: TestClient, data_dir: Path) -> None:
    files = [
        ("files", ("a.jpg", jpeg(), "image/jpeg")),
        ("files", ("zero.jpg", b"", "image/jpeg")),
        ("files", ("b.png", png(), "image/png")),
    ]
    status, detail = _refused(app_client, data_dir, "POST", "/predict_bulk", files=files)
    assert status == 422 and detail.startswith("zero.jpg") and "empty" in detail


def test_huge_file_is_413_before_it_is_decoded(app_client: TestClient, data_dir: Path) -> None:
    huge = jpeg()[:20] + bytes(FILE_LIMIT + 10)
    files = {"file": ("huge.jpg", huge, "image/jpeg")}
    status, detail = _refused(app_client, data_dir, "POST", "/predict", files=files)
    # The limit in units people read ("1.9 MB"), not a byte count.
    assert status == 413 and detail.startswith("huge.jpg") and human_bytes(FILE_LIMIT) in detail


@pytest.mark.parametrize("count", [1000, 1001])
def test_a_thousand_files_in_one_request(
    app_client: TestClient, data_dir: Path, count: int
) -> None:
    tiny_png = png(8, 8)
    files = [("files", (f"{i}.png", tiny_png, "image/png")) for i in range(count)]
    status, detail = _refused(app_client, data_dir, "POST", "/predict_bulk", files=files)
    # dermcad's own limit (DERMCAD_MAX_FILES) answers 413; above 1,000 parts Starlette's multipart
    # parser stops first, with 400 "Too many files".
    assert status == (413 if count <= 1000 else 400) and "files" in detail.lower()


@pytest.mark.parametrize(
    ("url", "files", "data"),
    [
        ("/predict", None, None),
        ("/predict", [("files", ("a.png", png(), "image/png"))], None),
        ("/predict_bulk", [("file", ("a.png", png(), "image/png"))], None),
        ("/predict_bulk", None, {"files": "not a file"}),
        ("/predict", None, {"file": "not a file"}),
    ],
    ids=["nothing", "predict-with-files", "bulk-with-file", "bulk-text-field", "text-field"],
)
def test_missing_and_misnamed_fields_are_422(
    app_client: TestClient, data_dir: Path, url: str, files: Any, data: Any
) -> None:
    status, detail = _refused(app_client, data_dir, "POST", url, files=files, data=data)
    assert status == 422 and "file" in detail


@pytest.mark.parametrize(
    ("params", "status", "word"),
    [
        ({"model_id": "nope"}, 404, "nope"),
        ({"model_id": "../tiny"}, 404, "unknown model"),
        ({"tta": "3"}, 422, "tta"),
        ({"tta": "eight"}, 422, "tta"),
    ],
)
def test_bad_parameters(
    app_client: TestClient, data_dir: Path, params: dict[str, str], status: int, word: str
) -> None:
    files = {"file": ("a.png", png(), "image/png")}
    got, detail = _refused(app_client, data_dir, "POST", "/predict", params=params, files=files)
    assert got == status and word in detail


BAD_IDS = [
    "nope",
    "00000000-0000-4000-8000-000000000000",
    "x" * 5000,
    "%2E%2E%2F%2E%2E%2Ftasks.sqlite3",
    "..%2Ftasks.sqlite3",
    "%00",
    "%C3%BC%E7%97%A3",
    "%27%20OR%20%271%27%3D%271",
    "%25",
]


@pytest.mark.parametrize("task_id", BAD_IDS, ids=range(len(BAD_IDS)))
@pytest.mark.parametrize(
    ("method", "template"),
    [
        ("GET", "/from_task/{}?wait=0"),
        ("GET", "/tasks/{}"),
        ("DELETE", "/tasks/{}"),
        ("GET", "/tasks/{}/heatmaps/0.png"),
    ],
)
def test_malformed_and_unknown_task_ids_are_404(
    app_client: TestClient, data_dir: Path, task_id: str, method: str, template: str
) -> None:
    status, _ = _refused(app_client, data_dir, method, template.format(task_id))
    # An id holding an encoded '/' matches no task route: the static files answer 404 or 405.
    assert status == 404 or (status == 405 and "%2F" in task_id.upper())


@pytest.mark.parametrize(
    "path",
    [
        "/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/..%2f..%2f..%2fetc%2fpasswd",
        "/static/..%2f..%2f..%2fpyproject.toml",
        "/tasks/x/heatmaps/..%2f..%2ftasks.sqlite3",
    ],
)
def test_path_traversal_reaches_no_file(app_client: TestClient, path: str) -> None:
    response = app_client.get(path)
    assert response.status_code in (404, 405, 422)
    assert b"root:" not in response.content and b"[project]" not in response.content
    assert b"SQLite format" not in response.content
    _healthy(app_client)


def _result(client: TestClient, name: str, data: bytes) -> dict[str, Any]:
    response = client.post("/predict", files={"file": (name, data, "application/octet-stream")})
    assert response.status_code == 200, response.text
    task_id = response.json()["task_uuid"]
    [item] = client.get(f"/from_task/{task_id}", params={"wait": 30}).json()
    assert item["error"] is None
    return dict(item)


def _same_prediction(got: dict[str, Any], expected: dict[str, Any]) -> None:
    for name, value in expected["probabilities"].items():
        assert got["probabilities"][name] == pytest.approx(value, abs=1e-6)
    assert got["prediction"] == expected["prediction"]


def _unusual_modes() -> list[tuple[str, bytes, np.ndarray]]:
    """(id, file, the RGB pixels the image stands for, derived without dermcad's code)."""
    rgb = pixels(48, 40, seed=5)
    gray = rgb[:, :, 0]
    alpha = np.where(np.arange(48)[None, :] < 24, 0, 255).astype(np.uint8) * np.ones(
        (40, 1), np.uint8
    )
    rgba = np.dstack([rgb, alpha])
    over_white = np.where(alpha[:, :, None] == 0, 255, rgb).astype(np.uint8)
    cmyk = encode(Image.fromarray(rgb).convert("CMYK"), "JPEG", quality=95)
    with Image.open(io.BytesIO(cmyk)) as opened:  # Pillow's own CMYK -> RGB of the decoded JPEG
        assert opened.mode == "CMYK"
        cmyk_rgb = np.asarray(opened.convert("RGB"))
    gray16 = encode(Image.fromarray(gray.astype(np.uint16) * 257), "PNG")
    gray_rgb = np.dstack([gray] * 3)
    return [
        ("cmyk-jpeg", cmyk, cmyk_rgb),
        ("16-bit-gray-png", gray16, gray_rgb),
        ("16-bit-rgb-png", png_rgb16(rgb.astype(np.uint16) * 257), rgb),
        ("gray-png", encode(Image.fromarray(gray), "PNG"), gray_rgb),
        ("rgba-png", encode(Image.fromarray(rgba, "RGBA"), "PNG"), over_white),
        ("palette-png", encode(Image.fromarray(rgb).quantize(16), "PNG"), None),  # type: ignore[list-item]
    ]


@pytest.mark.parametrize(("mode", "data", "expected"), _unusual_modes(), ids=lambda v: str(v)[:20])
def test_valid_images_in_unusual_modes_give_the_rgb_result(
    app_client: TestClient, mode: str, data: bytes, expected: np.ndarray | None
) -> None:
    if expected is None:  # palette: what the palette maps to
        with Image.open(io.BytesIO(data)) as opened:
            expected = np.asarray(opened.convert("RGB"))
    got = _result(app_client, f"{mode}.img", data)
    reference = _result(app_client, "reference.png", encode(Image.fromarray(expected), "PNG"))
    assert (got["width"], got["height"]) == (expected.shape[1], expected.shape[0])
    _same_prediction(got, reference)


def test_one_pixel_image_is_classified(app_client: TestClient) -> None:
    item = _result(app_client, "dot.png", png(1, 1))
    assert (item["width"], item["height"]) == (1, 1)
    assert sum(item["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
    jpeg_item = _result(app_client, "dot.jpg", jpeg(1, 1))
    assert (jpeg_item["width"], jpeg_item["height"]) == (1, 1)


def multipart(field: str, filename: bytes, data: bytes) -> tuple[bytes, dict[str, str]]:
    """A multipart body written by hand: the file name goes out byte for byte (httpx would
    percent-encode control characters, so the server would never see them)."""
    boundary = "dermcad-raw-boundary"
    body = (
        f"--{boundary}\r\n".encode()
        + b'Content-Disposition: form-data; name="'
        + field.encode()
        + b'"; filename="'
        + filename
        + b'"\r\nContent-Type: application/octet-stream\r\n\r\n'
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ("naevus_ü_痣_😀.jpg".encode(), "naevus_ü_痣_😀.jpg"),
        ("lesion_\u202egpj.exe".encode(), "lesion_gpj.exe"),  # right-to-left override
        (b"a\x00b\x00.jpg", "ab.jpg"),
        (b"tab\tbell\x07esc\x1b.jpg", "tabbellesc.jpg"),
        (b"..\\..\\windows\\system32\\evil.jpg", "evil.jpg"),
        (b"../../../../../../tmp/evil.jpg", "evil.jpg"),
        (b"\x00\x01\x02", "image_1"),
        (b"n" * 1000 + b".jpg", "n" * 200),
        (b"\xff\xfe not utf-8 .jpg", None),
    ],
    ids=[
        "unicode",
        "bidi-override",
        "nul",
        "controls",
        "windows-traversal",
        "posix-traversal",
        "only-control",
        "long",
        "not-utf8",
    ],
)
def test_file_names_are_labels_only(
    app_client: TestClient, data_dir: Path, given: bytes, shown: str | None
) -> None:
    body, headers = multipart("file", given, png())
    response = app_client.post("/predict", content=body, headers=headers)
    assert response.status_code == 200, response.text
    task_id = response.json()["task_uuid"]
    [item] = app_client.get(f"/from_task/{task_id}", params={"wait": 30}).json()
    assert item["error"] is None
    if shown is not None:
        assert item["name"] == shown
    assert not any(ord(c) < 32 or ord(c) == 127 for c in item["name"])
    outside = [p for p in stored_files(data_dir) if not p.startswith("tasks/")]
    assert outside == []
    names = {Path(p).name for p in stored_files(data_dir)}
    kinds = ("input.npy", "display.jpg", "cam.npy")
    assert names <= {f"{i}.{kind}" for i in range(10) for kind in kinds}
    assert not Path("/tmp/evil.jpg").exists()


def test_crlf_in_a_file_name_cannot_add_headers(app_client: TestClient, data_dir: Path) -> None:
    body, headers = multipart("file", b"x.jpg\r\nContent-Type: text/html\r\n\r\n<b>", png())
    before = _snapshot(data_dir)
    response = app_client.post("/predict", content=body, headers=headers)
    assert response.status_code < 500
    if response.status_code != 200:
        assert _snapshot(data_dir) == before
    _healthy(app_client)


@pytest.mark.parametrize(
    "headers",
    [{"X-Big": "a" * 40_000}, {f"X-H{i}": "v" * 10 for i in range(3000)}],
    ids=["one-40kB-header", "3000-headers"],
)
def test_oversized_headers_are_431(
    app_client: TestClient, data_dir: Path, headers: dict[str, str]
) -> None:
    files = {"file": ("a.png", png(), "image/png")}
    status, detail = _refused(
        app_client, data_dir, "POST", "/predict", headers=headers, files=files
    )
    assert status == 431 and "headers" in detail
