"""Optional API keys: with ``DERMCAD_API_KEYS`` set, requests need ``Authorization: Bearer``."""

from __future__ import annotations

import secrets

from fastapi import HTTPException, Request


def require_api_key(request: Request) -> None:
    state = getattr(request.app.state, "serving", None)
    keys = state.settings.api_keys if state is not None else []
    if not keys:
        return
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    given = token.strip().encode()
    if scheme.lower() == "bearer" and any(
        secrets.compare_digest(given, key.get_secret_value().encode()) for key in keys
    ):
        return
    raise HTTPException(401, "missing or wrong API key", headers={"WWW-Authenticate": "Bearer"})
