"""Bad input is refused with a 4xx and a reason before anything is queued."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient
from PIL import Image

from api.conftest import AppFactory, upload
from serving.tiny import Tiny


def _task_count(data_dir: Path) -> int:
    with sqlite3.connect(data_dir / "tasks.sqlite3") as db:
        return int(db.execute("SELECT COUNT(*) FROM tasks").fetchone()[0])


def _stored_folders(data_dir: Path) -> list[Path]:
    return list((data_dir / "tasks").iterdir())


def _jpeg(size: tuple[int, int] = (40, 30), exif: Image.Exif | None = None) -> bytes:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="JPEG", exif=exif.tobytes() if exif else b"")
    return out.getvalue()


def _refused(client: TestClient, data_dir: Path, files: list[tuple[str, tuple[str, bytes, str]]]):
    response = client.post("/predict_bulk", files=files)
    assert _task_count(data_dir) == 0
    assert _stored_folders(data_dir) == []
    return response


def test_not_an_image_is_415_and_nothing_is_queued(
    client: TestClient, tiny: Tiny, tmp_path: Path
) -> None:
    files = [
        ("files", upload(tiny.images[0])),
        ("files", ("notes.jpg", b"these are not the pixels you are looking for", "image/jpeg")),
    ]
    response = _refused(client, tmp_path / "data", files)
    assert response.status_code == 415
    assert "notes.jpg" in response.json()["detail"]


def test_content_is_sniffed_not_the_name(client: TestClient, tiny: Tiny) -> None:
    png = io.BytesIO()
    Image.new("RGB", (20, 20), "red").save(png, format="PNG")
    response = client.post("/predict", files={"file": ("photo.txt", png.getvalue(), "text/plain")})
    assert response.status_code == 200
    gif = io.BytesIO()
    Image.new("RGB", (20, 20), "red").save(gif, format="GIF")
    response = client.post("/predict", files={"file": ("photo.jpg", gif.getvalue(), "image/jpeg")})
    assert response.status_code == 415


def test_truncated_jpeg_is_422_naming_the_file(
    client: TestClient, tiny: Tiny, tmp_path: Path
) -> None:
    data = tiny.images[1].read_bytes()
    files = [
        ("files", upload(tiny.images[0])),
        ("files", ("cut.jpg", data[: len(data) // 2], "image/jpeg")),
    ]
    response = _refused(client, tmp_path / "data", files)
    assert response.status_code == 422
    assert "cut.jpg" in response.json()["detail"]


def test_empty_file_is_422(client: TestClient) -> None:
    response = client.post("/predict", files={"file": ("empty.jpg", b"", "image/jpeg")})
    assert response.status_code == 422
    assert "empty.jpg" in response.json()["detail"]


def test_file_over_the_size_limit_is_413(serve: AppFactory, tiny: Tiny, tmp_path: Path) -> None:
    size = tiny.images[0].stat().st_size
    with serve(max_file_bytes=size - 1) as client:
        response = _refused(client, tmp_path / "data", [("files", upload(tiny.images[0]))])
    assert response.status_code == 413
    assert tiny.images[0].name in response.json()["detail"]


def test_request_over_the_size_limit_is_413(serve: AppFactory, tiny: Tiny, tmp_path: Path) -> None:
    files = [("files", upload(p)) for p in tiny.images[:6]]
    with serve(max_request_bytes=4096) as client:
        response = _refused(client, tmp_path / "data", files)
    assert response.status_code == 413
    assert response.json()["detail"] == "request body larger than the limit of 4 KB"


def test_too_many_files_is_413(serve: AppFactory, tiny: Tiny, tmp_path: Path) -> None:
    with serve(max_files=3) as client:
        response = _refused(
            client, tmp_path / "data", [("files", upload(p)) for p in tiny.images[:4]]
        )
    assert response.status_code == 413
    assert "3" in response.json()["detail"]


def test_pixel_limit_refuses_decompression_bombs(serve: AppFactory, tmp_path: Path) -> None:
    bomb = io.BytesIO()
    Image.new("L", (5000, 5000)).save(bomb, format="PNG")  # 25 Mpx in a few kB
    assert len(bomb.getvalue()) < 100_000
    with serve(max_pixels=1_000_000) as client:
        response = _refused(
            client, tmp_path / "data", [("files", ("bomb.png", bomb.getvalue(), "image/png"))]
        )
    assert response.status_code == 413
    detail = response.json()["detail"]
    assert "bomb.png" in detail and "(25 megapixels), more than the limit of 1 megapixels" in detail


def test_unknown_model_is_404_listing_the_models(
    client: TestClient, tiny: Tiny, tmp_path: Path
) -> None:
    response = client.post(
        "/predict", params={"model_id": "nope"}, files={"file": upload(tiny.images[0])}
    )
    assert response.status_code == 404
    assert "nope" in response.json()["detail"] and tiny.model_id in response.json()["detail"]
    assert _task_count(tmp_path / "data") == 0


def test_missing_file_field_is_422(client: TestClient) -> None:
    assert client.post("/predict").status_code == 422
    assert (
        client.post("/predict_bulk", files={"file": ("a.jpg", b"x", "image/jpeg")}).status_code
        == 422
    )


def test_file_name_is_only_a_label(client: TestClient, tiny: Tiny, tmp_path: Path) -> None:
    evil = "../../../../etc/cron.d/evil.jpg"
    response = client.post("/predict", files={"file": upload(tiny.images[0], evil)})
    [item] = client.get(f"/from_task/{response.json()['task_uuid']}").json()
    assert item["name"] == "evil.jpg"
    stored = sorted(p.name for p in (tmp_path / "data" / "tasks").rglob("*") if p.is_file())
    assert stored == ["0.cam.npy", "0.display.jpg", "0.input.npy"]


def test_exif_is_not_kept_and_orientation_is_applied(client: TestClient, tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees: the upright image is 30 wide, 40 high
    exif[0x010F] = "SecretCameraMaker"
    exif[0x8298] = "Patient Name"
    data = _jpeg((40, 30), exif)
    response = client.post("/predict", files={"file": ("exif.jpg", data, "image/jpeg")})
    [item] = client.get(f"/from_task/{response.json()['task_uuid']}").json()
    assert (item["width"], item["height"]) == (30, 40)
    [display] = list((tmp_path / "data" / "tasks").rglob("0.display.jpg"))
    [pixels] = list((tmp_path / "data" / "tasks").rglob("0.input.npy"))
    for stored in (display, pixels):
        raw = stored.read_bytes()
        assert b"SecretCameraMaker" not in raw and b"Patient Name" not in raw
    with Image.open(display) as image:
        assert image.size == (30, 40)
        assert not image.getexif() and "exif" not in image.info
    model_input = np.load(pixels, allow_pickle=False)
    assert model_input.dtype == np.uint8 and model_input.shape[2] == 3


def test_what_is_stored_is_bounded_whatever_the_upload(client: TestClient, tmp_path: Path) -> None:
    """A large flat PNG compresses to a few kB but decodes to 24 megapixels: the store keeps the
    model-sized pixels and a display copy of at most 512 px, not the decoded upload."""
    flat = io.BytesIO()
    Image.new("RGB", (6000, 4000), (200, 120, 90)).save(flat, format="PNG")
    assert len(flat.getvalue()) < 200_000
    response = client.post("/predict", files={"file": ("flat.png", flat.getvalue(), "image/png")})
    task_id = response.json()["task_uuid"]
    [item] = client.get(f"/from_task/{task_id}").json()
    assert item["error"] is None and (item["width"], item["height"]) == (6000, 4000)
    folder = tmp_path / "data" / "tasks" / task_id
    pixels = np.load(folder / "0.input.npy", allow_pickle=False)
    side = client.get("/models").json()["models"][0]["img_size"]
    assert pixels.shape == (side, side, 3) and pixels.dtype == np.uint8
    with Image.open(folder / "0.display.jpg") as display:
        assert display.size == (512, 341)
    stored = sum(p.stat().st_size for p in folder.iterdir())
    assert stored < side * side * 3 + 100_000
    heat = client.get(item["heatmap_url"])
    with Image.open(io.BytesIO(heat.content)) as overlay:
        assert overlay.size == (512, 341)


def test_streamed_body_over_the_limit_is_413(serve: AppFactory, tiny: Tiny, tmp_path: Path) -> None:
    """Without Content-Length (chunked upload) the body is counted while it is read."""
    boundary = "dermcadboundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="a.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    data = tiny.images[0].read_bytes()

    def chunks():  # type: ignore[no-untyped-def]
        yield head
        for _ in range(20):
            yield data
        yield f"\r\n--{boundary}--\r\n".encode()

    with serve(max_request_bytes=3 * len(data)) as client:
        response = client.post(
            "/predict_bulk",
            content=chunks(),
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
    assert response.status_code == 413
    assert _task_count(tmp_path / "data") == 0


def _bulk_items(client: TestClient, files: list[tuple[str, tuple[str, bytes, str]]]) -> list[dict]:
    response = client.post("/predict_bulk", files=files)
    assert response.status_code == 200, response.text
    return list(client.get(f"/from_task/{response.json()['task_uuid']}").json())


def test_files_decoded_together_keep_their_order_and_results(
    serve: AppFactory, tiny: Tiny, tmp_path: Path
) -> None:
    """Several files of a request decode at the same time; the task is the same as one by one."""
    images = tiny.images[:12][::-1]
    files = [("files", upload(p, f"{i:02d}-{p.name}")) for i, p in enumerate(images)]
    answers = []
    for window in (1, 3):
        with serve(tmp_path / f"data-{window}", decode_concurrency=window) as client:
            answers.append(_bulk_items(client, files))
    one_by_one, together = answers
    assert [i["name"] for i in together] == [name for _, (name, _, _) in files]
    assert [i["probabilities"] for i in together] == [i["probabilities"] for i in one_by_one]


def test_a_refused_file_among_files_decoding_together_queues_nothing(
    serve: AppFactory, tiny: Tiny, tmp_path: Path
) -> None:
    data = tiny.images[1].read_bytes()
    good = [("files", upload(p)) for p in tiny.images[:5]]
    cut = ("files", ("cut.jpg", data[: len(data) // 2], "image/jpeg"))
    for position in (1, 5):  # inside the first window, and after it
        data_dir = tmp_path / f"data-{position}"
        with serve(data_dir, decode_concurrency=4) as client:
            response = _refused(client, data_dir, [*good[:position], cut, *good[position:]])
        assert response.status_code == 422
        assert "cut.jpg" in response.json()["detail"]


def test_decode_window_defaults_to_the_cpus_at_most_four(tiny: Tiny, tmp_path: Path) -> None:
    from api.conftest import make_settings

    assert 1 <= make_settings(tiny, tmp_path).decode_window() <= 4
    assert make_settings(tiny, tmp_path, decode_concurrency=7).decode_window() == 7
