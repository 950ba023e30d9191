"""Refuse request bodies above the configured size before they are read (413), and request
headers above :data:`MAX_HEADER_BYTES` in all (431: uvicorn's own limit depends on how the
headers arrive over the socket)."""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dermcad.units import human_bytes

#: Request headers (names and values, all together) above this size are refused with 431.
MAX_HEADER_BYTES = 32 * 1024


class BodySizeLimit:
    """Checks ``Content-Length`` up front and counts streamed bytes for chunked bodies."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = scope.get("headers") or []
        if sum(len(name) + len(value) for name, value in headers) > MAX_HEADER_BYTES:
            await _refuse(send, 431, f"request headers larger than {human_bytes(MAX_HEADER_BYTES)}")
            return
        declared = dict(headers).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await _refuse(send, 413, _detail(self.max_bytes))
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # FastAPI re-raises HTTPException from body parsing: the client gets a 413.
                    raise HTTPException(413, _detail(self.max_bytes))
            return message

        await self.app(scope, counting_receive, send)


def _detail(max_bytes: int) -> str:
    return f"request body larger than the limit of {human_bytes(max_bytes)}"


async def _refuse(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
