"""Observability (lesson 07): a request id on every log line, and unexpected errors as JSON that leaks nothing.

* ``request_id``: a ``ContextVar`` holding the id of the request being handled (``"-"`` outside a request).
* ``RequestIdMiddleware``: pure ASGI middleware; takes a valid incoming ``X-Request-ID`` or makes a new one,
  sets ``request_id`` for everything the request runs (tasks it creates copy it), echoes it in the response
  header, and logs one access line on ``bookshelf.access``.
* ``RequestIdFilter``: a ``logging.Filter`` that stamps each record with ``record.request_id``.
* ``UnexpectedErrors``: pure ASGI middleware; an exception no handler took becomes a 500
  ``{"error": "internal server error", "request_id": ...}``; the traceback goes to the ``bookshelf.errors`` log.
* ``instrument(app)``: adds both middlewares in the right order (errors inside, request ids outside).

Why middleware for the 500s and not ``@app.exception_handler(Exception)``: Starlette runs that handler in
``ServerErrorMiddleware``, the outermost layer, after every user middleware has returned. By then the request
id has been reset and the response no longer passes through the middleware that adds the header.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from contextvars import ContextVar
from typing import Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["request_id", "REQUEST_ID_HEADER", "valid_request_id", "new_request_id", "RequestIdMiddleware",
           "RequestIdFilter", "UnexpectedErrors", "instrument", "GENERIC_ERROR"]

request_id: ContextVar[str] = ContextVar("request_id", default="-")
REQUEST_ID_HEADER = "X-Request-ID"
GENERIC_ERROR = "internal server error"

# What a client may send as its own id: short, and safe to put in a log line or a header.
_VALID_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")

access_log = logging.getLogger("bookshelf.access")
error_log = logging.getLogger("bookshelf.errors")


def valid_request_id(value: str | None) -> bool:
    """True for 1 to 64 letters, digits, ``.``, ``_`` or ``-``: an id a client may choose."""
    return value is not None and _VALID_ID.fullmatch(value) is not None


def new_request_id() -> str:
    """A fresh id: 32 hex digits of a random UUID."""
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """Give each HTTP request an id in ``var`` and in the response's ``header``; log one access line."""

    def __init__(self, app: ASGIApp, *, var: ContextVar[str] = request_id, header: str = REQUEST_ID_HEADER,
                 logger: logging.Logger | None = access_log) -> None:
        self.app = app
        self.var = var
        self.header = header
        self.logger = logger

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = Headers(scope=scope).get(self.header)
        rid = incoming if incoming is not None and valid_request_id(incoming) else new_request_id()
        status: int | str = "no response"

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[self.header] = rid
                status = message["status"]
            await send(message)

        token = self.var.set(rid)  # everything awaited below, and every task created there, sees it
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if self.logger is not None:
                self.logger.info("%s %s -> %s in %.1f ms", scope["method"], scope["path"], status,
                                 (time.perf_counter() - started) * 1000)
            self.var.reset(token)


class RequestIdFilter(logging.Filter):
    """Stamp each record with ``record.request_id`` (the current value of ``var``) unless it has one.

    Attach it to a *handler*: a logger's own filters only see records logged on that very logger, a
    handler's filters see every record that reaches the handler, from child loggers too.
    """

    def __init__(self, var: ContextVar[str] = request_id) -> None:
        super().__init__()
        self.var = var

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = self.var.get()
        return True


class UnexpectedErrors:
    """Turn an exception that no handler took into a 500 JSON body; log its traceback, never send it."""

    def __init__(self, app: ASGIApp, *, var: ContextVar[str] = request_id,
                 logger: logging.Logger = error_log) -> None:
        self.app = app
        self.var = var
        self.logger = logger

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        response_started = False

        async def watch(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception:
            self.logger.exception("unhandled error in %s %s", scope["method"], scope["path"])
            if response_started:
                raise  # too late to send a clean error: the server closes the connection
            body: dict[str, Any] = {"error": GENERIC_ERROR, "request_id": self.var.get()}
            await JSONResponse(body, status_code=500)(scope, receive, send)


def instrument(app: Any, *, var: ContextVar[str] = request_id) -> Any:
    """Add ``UnexpectedErrors`` and, outside it, ``RequestIdMiddleware`` to ``app`` (once); return ``app``.

    The last middleware added is the outermost, so the request id is set before the error middleware runs
    and the 500 it sends still passes through the middleware that adds the ``X-Request-ID`` header.
    """
    if getattr(app.state, "instrumented", False):
        return app
    app.add_middleware(UnexpectedErrors, var=var)
    app.add_middleware(RequestIdMiddleware, var=var)
    app.state.instrumented = True
    return app
