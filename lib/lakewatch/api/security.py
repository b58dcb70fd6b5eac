"""The API key of the write endpoints (/score, /feedback): read from the environment variable named by
``api.key_env`` when the app is made, sent by clients in the ``X-API-Key`` header (or ``Authorization: Bearer``),
compared in constant time. Without a configured key the write endpoints refuse every request (403): they are never
open by accident."""

from __future__ import annotations

import hmac

from fastapi import Request
from fastapi.security import APIKeyHeader

from lakewatch.api.errors import ApiError

HEADER = "X-API-Key"
api_key_header = APIKeyHeader(name=HEADER, auto_error=False,
                              description="the key in the environment variable named by api.key_env")


def presented_key(request: Request) -> str | None:
    """The key a request carries: X-API-Key, else an Authorization: Bearer token."""
    key = request.headers.get(HEADER)
    if key:
        return key
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def check_key(expected: str | None, key_env: str, given: str | None) -> None:
    """ApiError 403 when no key is configured, 401 when none was sent, 403 when it does not match."""
    if not expected:
        raise ApiError(403, HEADER, f"write endpoints are disabled: no API key is configured (set the environment "
                       f"variable {key_env}, named by api.key_env, before starting the API)")
    if not given:
        raise ApiError(401, HEADER, f"this endpoint needs the API key in the {HEADER} header "
                       "(or Authorization: Bearer <key>)")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise ApiError(403, HEADER, f"the {HEADER} given does not match the configured API key")
