"""Privacy: what the server keeps of a patient's image, for how long, and what it says about it.

- uploaded images (and their heat maps) are deleted when their results expire, and the task's
  record, file names included, is not left readable in the SQLite files;
- EXIF (GPS included), XMP and PNG text chunks are never stored nor returned;
- logs never hold image bytes.
"""

from __future__ import annotations

import io
import logging
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image, PngImagePlugin

from api.conftest import AppFactory
from reliability.corpus import jpeg, pixels
from reliability.disk import stored_files, task_rows

SECRET = "JaneDoe-1962-MRN-554433"


def _all_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _wait_done(client: TestClient, task_id: str) -> list[dict[str, object]]:
    response = client.get(f"/from_task/{task_id}", params={"wait": 30})
    assert response.status_code == 200
    return list(response.json())


def test_images_records_and_names_are_gone_after_the_ttl(serve: AppFactory, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with serve(data_dir=data_dir, ttl_seconds=1.0) as client:
        files = [("files", (f"{SECRET}-{i}.jpg", jpeg(seed=i), "image/jpeg")) for i in range(3)]
        task_id = client.post("/predict_bulk", files=files).json()["task_uuid"]
        items = _wait_done(client, task_id)
        assert [item["name"] for item in items] == [f"{SECRET}-{i}.jpg" for i in range(3)]
        # per image: the model-ready pixels, the display copy and the heat-map array
        assert len(stored_files(data_dir)) == 9
        deadline = time.monotonic() + 15
        while (stored_files(data_dir) or task_rows(data_dir)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert stored_files(data_dir) == [] and task_rows(data_dir) == []
        assert client.get(f"/from_task/{task_id}").status_code == 404
        assert client.get(f"/tasks/{task_id}/heatmaps/0.png").status_code == 404
        leftovers = {name for name, data in _all_bytes(data_dir).items() if SECRET.encode() in data}
        assert leftovers == set(), f"the expired task's names are still readable in {leftovers}"


def test_deleted_task_leaves_no_trace(client: TestClient, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    task_id = client.post(
        "/predict", files={"file": (f"{SECRET}.jpg", jpeg(), "image/jpeg")}
    ).json()["task_uuid"]
    _wait_done(client, task_id)
    assert client.delete(f"/tasks/{task_id}").status_code == 204
    assert stored_files(data_dir) == [] and task_rows(data_dir) == []
    leftovers = {name for name, data in _all_bytes(data_dir).items() if SECRET.encode() in data}
    assert leftovers == set(), f"the deleted task's names are still readable in {leftovers}"


def _jpeg_with_gps() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "SecretCamera"  # Make
    exif[0x9286] = SECRET  # UserComment
    gps = exif.get_ifd(0x8825)
    gps[0x0001] = "N"  # GPSLatitudeRef
    gps[0x0002] = (48.0, 51.0, 24.56)  # GPSLatitude
    gps[0x0003] = "E"
    gps[0x0004] = (2.0, 21.0, 7.99)
    gps[0x0012] = "SECRET-GPS-DATUM"  # GPSMapDatum
    out = io.BytesIO()
    xmp = f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:Description about="{SECRET}-xmp"/></x:xmpmeta>'
    Image.fromarray(pixels(48, 40, 3)).save(
        out, format="JPEG", exif=exif.tobytes(), xmp=xmp.encode(), comment=f"{SECRET}-comment"
    )
    data = out.getvalue()
    with Image.open(io.BytesIO(data)) as check:  # the metadata really is in the file
        assert check.getexif().get_ifd(0x8825)[0x0012].startswith("SECRET-GPS-DATUM")
    assert SECRET.encode() in data and b"SECRET-GPS-DATUM" in data
    return data


def _png_with_text() -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", f"{SECRET}-png-text")
    info.add_itxt("Author", f"{SECRET}-png-itxt")
    exif = Image.Exif()
    exif[0x9286] = SECRET
    exif.get_ifd(0x8825)[0x0012] = "SECRET-GPS-DATUM"
    out = io.BytesIO()
    Image.fromarray(pixels(40, 40, 4)).save(out, format="PNG", pnginfo=info, exif=exif.tobytes())
    return out.getvalue()


MARKERS = (SECRET.encode(), b"SECRET-GPS-DATUM", b"SecretCamera", b"GPS", b"Exif\x00\x00")


def test_exif_gps_xmp_and_text_chunks_are_never_stored_or_returned(
    client: TestClient, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    files = [
        ("files", ("gps.jpg", _jpeg_with_gps(), "image/jpeg")),
        ("files", ("text.png", _png_with_text(), "image/png")),
    ]
    posted = client.post("/predict_bulk", files=files)
    task_id = posted.json()["task_uuid"]
    items = _wait_done(client, task_id)
    responses = [posted.content, client.get(f"/from_task/{task_id}").content]
    responses.append(client.get(f"/tasks/{task_id}").content)
    for i, item in enumerate(items):
        assert item["error"] is None
        heatmap = client.get(f"/tasks/{task_id}/heatmaps/{i}.png")
        assert heatmap.status_code == 200
        responses.append(heatmap.content)
        with Image.open(io.BytesIO(heatmap.content)) as png:
            assert not png.getexif() and not getattr(png, "text", {})
    for body in responses:
        for marker in MARKERS:
            assert marker not in body
    stored = _all_bytes(data_dir)
    assert len([name for name in stored if name.endswith(".display.jpg")]) == 2
    assert len([name for name in stored if name.endswith(".input.npy")]) == 2
    for name, data in stored.items():
        for marker in MARKERS:
            assert marker not in data, f"{marker!r} stored in {name}"
        if name.endswith(".jpg"):
            with Image.open(io.BytesIO(data)) as display:
                assert not display.getexif() and "exif" not in display.info
                assert "xmp" not in display.info and "icc_profile" not in display.info
                assert "comment" not in display.info


def test_logs_never_hold_image_bytes(
    client: TestClient, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    """Good, corrupt and refused uploads, with every logger at DEBUG: no record (nor anything
    written to stdout/stderr) holds the images' bytes, nor the text hidden in them."""
    marker = b"IMAGE-BYTES-MARKER-7f3a"
    good = _png_with_text()
    noisy = io.BytesIO()
    Image.fromarray(pixels(64, 64, 9)).save(noisy, format="PNG")
    corrupt = jpeg()[:40] + marker * 50
    caplog.set_level(logging.DEBUG)
    sent = [good, noisy.getvalue(), corrupt, marker * 10]
    for name, data in zip(["good.png", "noisy.png", "corrupt.jpg", "text.jpg"], sent, strict=True):
        response = client.post("/predict", files={"file": (name, data, "image/jpeg")})
        assert marker not in response.content
        if response.status_code == 200:
            _wait_done(client, response.json()["task_uuid"])
    out, err = capfd.readouterr()
    logged = caplog.text + out + err
    at = logged.find(marker.decode())
    assert at < 0, logged[max(0, at - 300) : at + 100]
    assert SECRET not in logged
    for data in sent:
        window = data[len(data) // 2 : len(data) // 2 + 24]
        for form in (repr(window)[2:-1], window.hex(), window.hex(" ")):
            assert form not in logged
