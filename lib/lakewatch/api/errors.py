"""How the API answers bad requests and missing data: JSON ``{"detail", "field"}`` with a 4xx (or 503 for a table
not created yet), never a stack trace; and the request body size limit (413 naming the limit)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from lakewatch.errors import NoSuchSeries, TableNotFound


class ApiError(Exception):
    """An answer other than 2xx: HTTP `status`, the request `field` (or table) concerned, and the message."""

    def __init__(self, status: int, field: str | None, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.field = field
        self.detail = detail
        self.headers = headers


def answer(status: int, detail: str, field: str | None = None, errors: list[dict] | None = None,
           headers: dict[str, str] | None = None) -> JSONResponse:
    """The JSON error answer."""
    body: dict[str, Any] = {"detail": detail, "field": field}
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, headers=headers)


def field_name(loc: tuple | list) -> str:
    """A pydantic error location as a field path: ('body', 'readings', 2, 'timestamp') -> readings[2].timestamp;
    query and path parameters keep their place: ('query', 'since') -> query.since."""
    parts = list(loc)
    if parts and parts[0] == "body":
        parts = parts[1:]
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "body"


def _found(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def validation_answer(exc: RequestValidationError) -> JSONResponse:
    """422 naming the first bad field (all of them in ``errors``)."""
    errors = []
    for error in exc.errors():
        name = field_name(error.get("loc", ()))
        message = str(error.get("msg", "invalid"))
        if message.startswith("Value error, "):
            message = message[len("Value error, "):]
        item = {"field": name, "message": message}
        if "input" in error and error.get("type") not in ("missing", "json_invalid") and name != "body":
            item["found"] = _found(error["input"])
        errors.append(item)
    first = errors[0] if errors else {"field": "body", "message": "invalid request"}
    detail = f"{first['field']}: {first['message']}" + (f" (found {first['found']})" if "found" in first else "")
    return answer(422, detail, first["field"], errors)


def install_handlers(app: FastAPI, limit: int) -> None:
    """Map validation errors, ApiError, TableNotFound (503 with the job to run), NoSuchSeries (404) and the body
    limit's 413 (`limit` bytes) to JSON."""

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return validation_answer(exc)

    @app.exception_handler(ApiError)
    async def _api(request: Request, exc: ApiError) -> JSONResponse:
        return answer(exc.status, exc.detail, exc.field, headers=exc.headers)

    @app.exception_handler(TableNotFound)
    async def _table(request: Request, exc: TableNotFound) -> JSONResponse:
        return answer(503, str(exc), exc.table_name)

    @app.exception_handler(NoSuchSeries)
    async def _series(request: Request, exc: NoSuchSeries) -> JSONResponse:
        return answer(404, str(exc), "series_id" if exc.channel is None else "channel")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 413:
            return answer(413, f"request body is over the limit of {limit} bytes (api.max_body_bytes)", "body",
                          headers={"Connection": "close"})
        return answer(exc.status_code, str(exc.detail), None, headers=getattr(exc, "headers", None))


class BodyLimit:
    """ASGI middleware limiting request bodies to `limit` bytes: a Content-Length over it is answered 413 (in the
    API's JSON, naming the limit) before anything reads the body; a body that does not declare its length
    (chunked) is counted as it streams in, and the read that passes the limit raises the 413 that the API's
    handler answers."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            response = answer(413, f"request body is {int(declared)} bytes; the limit is {self.limit} bytes "
                              "(api.max_body_bytes)", "body", headers={"Connection": "close"})
            await response(scope, receive, send)
            return
        seen = 0

        async def counted() -> Any:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise StarletteHTTPException(413)
            return message

        await self.app(scope, counted, send)
