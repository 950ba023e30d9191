"""Access: a task id is a random UUID4 and the only key to its results (nothing lists tasks);
optional API keys guard every operation but the probes, the docs and the page; CORS is closed
unless origins are configured.

(tests/api/test_extras.py checks one protected endpoint and a simple cross-origin GET; here every
route of the app is enumerated, so a route added later without the guard fails this test.)
"""

from __future__ import annotations

import hmac
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from api.conftest import AppFactory, make_settings
from dermcad.api import security
from dermcad.api.app import create_app
from reliability.corpus import png
from reliability.disk import stored_files, task_rows
from serving.tiny import Tiny

KEY = "k3y-" + "x" * 28
OPEN_PATHS = {"/healthz", "/readyz", "/metrics"}


def _submit(client: TestClient, headers: dict[str, str] | None = None) -> str:
    response = client.post(
        "/predict", files={"file": ("a.png", png(), "image/png")}, headers=headers or {}
    )
    assert response.status_code == 200
    task_id = str(response.json()["task_uuid"])
    assert client.get(f"/from_task/{task_id}?wait=30", headers=headers or {}).status_code == 200
    return task_id


def test_task_ids_are_random_uuid4(client: TestClient) -> None:
    ids = [_submit(client) for _ in range(12)]
    assert len(set(ids)) == len(ids)
    for task_id in ids:
        parsed = uuid.UUID(task_id)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
        assert str(parsed) == task_id  # canonical, lower case
    # Random, not sequential: the ids share no common prefix beyond chance.
    assert len({task_id[:4] for task_id in ids}) > 6


def test_nothing_lists_tasks(client: TestClient) -> None:
    task_id = _submit(client)
    paths = client.get("/openapi.json").json()["paths"]
    for path, operations in paths.items():
        if "task" in path:
            assert "{" in path, f"{path} would list tasks"
            assert set(operations) <= {"get", "delete"}
    for path in ("/tasks", "/tasks/", "/from_task", "/from_task/", "/tasks/*", "/tasks/%25"):
        response = client.get(path)
        assert response.status_code in (404, 405), path
        assert task_id.encode() not in response.content
    for path in ("/metrics", "/readyz", "/healthz", "/models", "/public_models", "/"):
        assert task_id.encode() not in client.get(path).content


def test_only_the_exact_id_opens_a_task(client: TestClient) -> None:
    task_id = _submit(client)
    near = [
        task_id.upper(),
        task_id[:-1] + ("0" if task_id[-1] != "0" else "1"),
        task_id[:8],
        task_id + " ",
        task_id.replace("-", ""),
        f"{task_id[:8]}%",
    ]
    for other in near:
        assert client.get(f"/tasks/{other}").status_code == 404, other
        assert client.get(f"/from_task/{other}?wait=0").status_code == 404, other
    assert client.get(f"/tasks/{task_id}").status_code == 200


@pytest.fixture(scope="module")
def keyed(tiny: Tiny, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    data_dir = tmp_path_factory.mktemp("keyed") / "data"
    with TestClient(create_app(make_settings(tiny, data_dir, api_keys=[KEY]))) as test_client:
        yield test_client


def _routes(client: TestClient) -> list[tuple[str, str]]:
    """Every operation the app documents (its OpenAPI schema, which stays open)."""
    paths = client.get("/openapi.json").json()["paths"]
    return [(method.upper(), path) for path, ops in paths.items() for method in sorted(ops)]


def _fill(path: str, task_id: str) -> str:
    path = path.replace("{task_uuid}", task_id).replace("{task_id}", task_id)
    path = path.replace("{index}", "0").replace("{model_id}", "tiny")
    assert not re.search(r"\{\w+\}", path), f"test does not know a parameter of {path}"
    return path


BAD_AUTH = [
    {},
    {"Authorization": "Bearer " + "y" * 32},
    {"Authorization": f"Basic {KEY}"},
    {"Authorization": f"Bearer {KEY[:-1]}"},
    {"Authorization": f"Bearer {KEY}x"},
    {"Authorization": "Bearer "},
    {"X-API-Key": KEY},
]


@pytest.mark.parametrize("headers", BAD_AUTH, ids=range(len(BAD_AUTH)))
def test_every_guarded_operation_needs_the_key(
    keyed: TestClient, tiny: Tiny, headers: dict[str, str]
) -> None:
    good = {"Authorization": f"Bearer {KEY}"}
    task_id = _submit(keyed, good)
    routes = _routes(keyed)
    assert ("POST", "/predict") in routes and ("DELETE", "/tasks/{task_id}") in routes
    data_dir = keyed.app.state.settings.data_dir  # type: ignore[attr-defined]
    before = stored_files(data_dir), task_rows(data_dir)
    for method, path in routes:
        url = _fill(path, task_id)
        files = {"file": ("a.png", png(), "image/png")} if method == "POST" else None
        response = keyed.request(method, url, headers=headers, files=files)
        if path in OPEN_PATHS:
            assert response.status_code != 401, path
            continue
        assert response.status_code == 401, f"{method} {path}: {response.status_code}"
        assert response.json()["detail"] == "missing or wrong API key"
        assert response.headers["www-authenticate"] == "Bearer"
        assert task_id.encode() not in response.content
    assert (stored_files(data_dir), task_rows(data_dir)) == before
    assert keyed.get(f"/tasks/{task_id}", headers=good).status_code == 200


def test_the_right_key_opens_every_operation(keyed: TestClient) -> None:
    good = {"Authorization": f"Bearer {KEY}"}
    task_id = _submit(keyed, good)
    for method, path in _routes(keyed):
        if method == "DELETE":
            continue
        url = _fill(path, task_id)
        field = "files" if path == "/predict_bulk" else "file"
        files = [(field, ("a.png", png(), "image/png"))] if method == "POST" else None
        response = keyed.request(method, url, headers=good, files=files)
        assert response.status_code == 200, f"{method} {path}: {response.text[:200]}"
    lower = {"Authorization": f"bearer {KEY}"}
    assert keyed.delete(f"/tasks/{task_id}", headers=lower).status_code == 204
    for path in ("/healthz", "/readyz", "/metrics", "/docs", "/openapi.json"):
        assert keyed.get(path).status_code == 200, path


FOREIGN = "http://attacker.example"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/predict"),
        ("POST", "/predict_bulk"),
        ("GET", "/from_task/x"),
        ("DELETE", "/tasks/x"),
    ],
)
def test_cors_preflight_is_refused_by_default(client: TestClient, method: str, path: str) -> None:
    response = client.options(
        path,
        headers={
            "Origin": FOREIGN,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert response.status_code >= 400
    assert not any(h.startswith("access-control-") for h in response.headers)


def test_cors_never_allows_credentials_or_foreign_origins(
    serve: AppFactory, tmp_path: Path
) -> None:
    with serve(cors_origins=["https://ui.example"]) as client:
        own = client.options(
            "/predict",
            headers={"Origin": "https://ui.example", "Access-Control-Request-Method": "POST"},
        )
        assert own.headers["access-control-allow-origin"] == "https://ui.example"
        assert own.headers.get("access-control-allow-credentials") != "true"
        for origin in (
            FOREIGN,
            "https://ui.example.attacker.example",
            "null",
            "https://UI.example",
        ):
            got = client.get("/public_models", headers={"Origin": origin})
            assert got.headers.get("access-control-allow-origin") in (None,), origin


def test_uploads_without_the_key_are_refused_before_their_body_is_parsed(
    keyed: TestClient,
) -> None:
    """1,001 parts would make Starlette's parser answer 400: a 401 shows the body was not parsed."""
    files = [("files", (f"{i}.png", b"x", "image/png")) for i in range(1001)]
    for headers in ({}, {"Authorization": "Bearer " + "y" * 32}):
        response = keyed.post("/predict_bulk", files=files, headers=headers)
        assert (
            response.status_code == 401 and response.json()["detail"] == "missing or wrong API key"
        )
        assert response.headers["www-authenticate"] == "Bearer"
    good = {"Authorization": f"Bearer {KEY}"}
    assert keyed.post("/predict_bulk", files=files, headers=good).status_code == 400


def test_a_refused_upload_is_readable_by_the_configured_ui(serve: AppFactory) -> None:
    with serve(cors_origins=["https://ui.example"], api_keys=[KEY]) as client:
        response = client.post(
            "/predict",
            files={"file": ("a.png", png(), "image/png")},
            headers={"Origin": "https://ui.example"},
        )
        assert response.status_code == 401
        assert response.headers["access-control-allow-origin"] == "https://ui.example"


@pytest.mark.parametrize("api_keys", [[KEY], []], ids=["keys", "no-keys"])
def test_an_app_that_is_not_started_lets_nothing_through(
    tiny: Tiny, tmp_path: Path, api_keys: list[str]
) -> None:
    """Fail closed: without its serving state the guard cannot know the keys, so it refuses."""
    app = create_app(make_settings(tiny, tmp_path / "data", api_keys=api_keys))
    client = TestClient(app)  # no ``with``: the lifespan never runs
    good = {"Authorization": f"Bearer {KEY}"}
    for method, path in [("GET", "/public_models"), ("GET", "/models/tiny")]:
        response = client.request(method, path, headers=good)
        assert response.status_code == 503, f"{method} {path}: {response.status_code}"
        assert response.json()["detail"] == "the server is starting"
        assert b"tiny" not in response.content


def test_the_key_guard_alone_fails_closed_without_serving_state() -> None:
    """The guard itself refuses, not only the routes behind it that need the state."""
    app = FastAPI(dependencies=[Depends(security.require_api_key)])
    app.state.serving = None

    @app.get("/open")
    def _open() -> dict[str, str]:
        return {"secret": "reached"}

    response = TestClient(app).get("/open", headers={"Authorization": f"Bearer {KEY}"})
    assert response.status_code == 503 and b"reached" not in response.content


def test_keys_are_compared_with_hmac_compare_digest(
    keyed: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/security.md says "compared in constant time": the comparison is hmac's."""
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(given: bytes, expected: bytes) -> bool:
        calls.append((given, expected))
        return real(given, expected)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert keyed.get("/public_models", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert calls == [(b"wrong", KEY.encode())]
    ok = keyed.get("/public_models", headers={"Authorization": f"Bearer {KEY}"})
    assert ok.status_code == 200 and calls[-1] == (KEY.encode(), KEY.encode())
