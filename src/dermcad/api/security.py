"""Optional API keys: with ``DERMCAD_API_KEYS`` set, requests need ``Authorization: Bearer``."""

from __future__ import annotations

import hmac
import json
from collections.abc import Sequence

from fastapi import HTTPException, Request
from pydantic import SecretStr
from starlette.types import ASGIApp, Receive, Scope, Send

REFUSED = "missing or wrong API key"


def key_matches(header: str, keys: Sequence[SecretStr]) -> bool:
    """Whether an ``Authorization`` header value carries one of ``keys`` (constant time)."""
    scheme, _, token = header.partition(" ")
    given = token.strip().encode()
    return scheme.lower() == "bearer" and any(
        hmac.compare_digest(given, key.get_secret_value().encode()) for key in keys
    )


def require_api_key(request: Request) -> None:
    """Lets a request through when no keys are configured or it carries one of them.

    Fails closed: an app whose serving state is missing (not started, or started wrongly) does
    not know whether keys are required, so it answers 503 rather than letting the request in.
    """
    state = getattr(request.app.state, "serving", None)
    if state is None:
        raise HTTPException(503, "the server is starting")
    keys = state.settings.api_keys
    if not keys or key_matches(request.headers.get("authorization", ""), keys):
        return
    raise HTTPException(401, REFUSED, headers={"WWW-Authenticate": "Bearer"})


class UploadKeyGate:
    """Refuses a POST without the key before its body is read: FastAPI parses a multipart body
    before it runs the route's dependencies, so :func:`require_api_key` alone would let a client
    without a key make the server read and parse up to the request-size limit."""

    def __init__(self, app: ASGIApp, keys: Sequence[SecretStr]) -> None:
        self.app = app
        self.keys = list(keys)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            header = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not key_matches(header.decode("latin-1"), self.keys):
                body = json.dumps({"detail": REFUSED}).encode()
                headers = [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"www-authenticate", b"Bearer"),
                    (b"connection", b"close"),
                ]
                await send({"type": "http.response.start", "status": 401, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
