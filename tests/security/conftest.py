"""Fixtures of the security tests: the serving tests' tiny exported model and app factory
(imported from tests/api, not rebuilt), and helpers that look at what a server left on disk."""

from __future__ import annotations

from api.conftest import client, serve, tiny  # noqa: F401  (fixtures reused from tests/api)
