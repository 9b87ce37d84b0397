"""What the API answers when a request is wrong or the database is busy: always a 4xx or a 503, never a 500.

* ``StrictJSONRoute``: request bodies are strict JSON. Invalid UTF-8, ``NaN``/``Infinity``, numbers too big
  for a float (``1e400``) and nesting deeper than ``MAX_DEPTH`` are a 422 ``json_invalid`` that says why
  (Python's ``json`` accepts the first three, and deep nesting costs a ``RecursionError``).
* ``invalid_request``: 422 without the ``input`` values: an error body never echoes what the client sent
  (it could be megabytes, or text that cannot be encoded).
* ``method_not_allowed``: 405 whose ``Allow`` header lists every method the path has, not just one route's.
* ``database_busy``: 503 with ``Retry-After`` when SQLite stayed locked (another process was writing).
Body size is capped before any of this by ``FastAPI(max_body_size=...)``: 413, counted as the bytes arrive.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from .db import DatabaseBusy, is_busy

__all__ = ["AsciiJSONResponse", "StrictJSONRoute", "MAX_DEPTH", "RETRY_AFTER", "invalid_request",
           "method_not_allowed", "database_busy", "install_error_handlers"]

MAX_DEPTH = 32  # the app's bodies nest 2 levels deep; this leaves room and stays far from RecursionError
RETRY_AFTER = "1"  # seconds a client should wait before retrying a 503


class AsciiJSONResponse(JSONResponse):
    """JSON with every non-ASCII character escaped: renders even text that is not valid Unicode."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"{text} is too large for a number")
    return value


def _depth(value: Any) -> int:
    """How deeply ``value`` nests lists and objects (a scalar is 0)."""
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


def strict_json(body: bytes) -> Any:
    """Parse a request body as JSON, raising ``json.JSONDecodeError`` with a clear message for what we refuse."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise json.JSONDecodeError("the body is not valid UTF-8", repr(body[:40]), exc.start) from None
    try:
        value = json.loads(text, parse_constant=_reject_constant, parse_float=_finite)
    except RecursionError:
        raise json.JSONDecodeError(f"JSON nested deeper than {MAX_DEPTH} levels", text[:40], 0) from None
    except json.JSONDecodeError:
        raise
    except ValueError as exc:
        raise json.JSONDecodeError(str(exc), text[:40], 0) from None
    if _depth(value) > MAX_DEPTH:
        raise json.JSONDecodeError(f"JSON nested deeper than {MAX_DEPTH} levels", text[:40], 0)
    return value


class StrictJSONRequest(Request):
    """A request whose ``.json()`` is :func:`strict_json`."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = strict_json(await self.body())
        return self._json


class StrictJSONRoute(APIRoute):
    """Routes whose JSON bodies are parsed by :func:`strict_json` (FastAPI turns its errors into a 422)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict_handler(request: Request) -> Response:
            return await handler(StrictJSONRequest(request.scope, request.receive))

        return strict_handler


async def invalid_request(request: Request, exc: Exception) -> Response:
    """422 with each error's type, location, message and context, but not the ``input`` the client sent."""
    assert isinstance(exc, RequestValidationError)
    errors = [{k: v for k, v in error.items() if k not in ("input", "url")} for error in exc.errors()]
    # ASCII-escaped: a message may quote text that is not valid Unicode (a lone surrogate like "\ud800").
    return AsciiJSONResponse({"detail": jsonable_encoder(errors)}, status_code=422)


def allowed_methods(app: Any, path: str) -> set[str]:
    """The methods the app's OpenAPI document lists for ``path`` (integer parameters match digits only)."""
    methods: set[str] = set()
    for template, item in app.openapi()["paths"].items():
        for parameter in item.get(next(iter(item)), {}).get("parameters", []):
            if parameter["in"] == "path" and parameter["schema"].get("type") == "integer":
                template = template.replace("{%s}" % parameter["name"], "{%s:int}" % parameter["name"])
        if compile_path(template)[0].fullmatch(path):
            methods |= {method.upper() for method in item}
    return methods


async def method_not_allowed(request: Request, exc: Exception) -> Response:
    """The usual JSON error; on a 405 the ``Allow`` header lists every method the path has, not one route's."""
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        methods = allowed_methods(request.app, request.url.path)
        if methods:
            headers["Allow"] = ", ".join(sorted(methods))
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers or None)


async def database_busy(request: Request, exc: Exception) -> Response:
    """503 with ``Retry-After`` for "database is locked"; any other database error stays a 500."""
    if not isinstance(exc, DatabaseBusy) and not is_busy(exc):
        raise exc
    return JSONResponse({"detail": "the database is busy, try again shortly"}, status_code=503,
                        headers={"Retry-After": RETRY_AFTER})


def install_error_handlers(app: Any) -> None:
    """Register the handlers above on a FastAPI app."""
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(StarletteHTTPException, method_not_allowed)
    app.add_exception_handler(DatabaseBusy, database_busy)
    app.add_exception_handler(sqlite3.OperationalError, database_busy)
