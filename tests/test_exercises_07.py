"""Lesson 07's checks pass correct answers (pure ASGI or ``@app.middleware``) and explain typical mistakes."""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from contextvars import ContextVar
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers, MutableHeaders

from bookshelf.observability import request_id
from labkit.checks import run_check

VALID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def pure_request_ids(app: FastAPI, var: ContextVar[str]) -> None:
    class RequestIds:
        def __init__(self, app: Any) -> None:
            self.app = app

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                await self.app(scope, receive, send)
                return
            incoming = Headers(scope=scope).get("X-Request-ID")
            rid = incoming if incoming and VALID.fullmatch(incoming) else uuid.uuid4().hex

            async def send_with_id(message: Any) -> None:
                if message["type"] == "http.response.start":
                    MutableHeaders(scope=message)["X-Request-ID"] = rid
                await send(message)

            token = var.set(rid)
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                var.reset(token)

    app.add_middleware(RequestIds)


def http_middleware_request_ids(app: FastAPI, var: ContextVar[str]) -> None:
    @app.middleware("http")
    async def request_ids(request: Request, call_next: Any) -> Any:
        incoming = request.headers.get("x-request-id")
        rid = incoming if incoming and VALID.fullmatch(incoming) else uuid.uuid4().hex
        token = var.set(rid)
        try:
            response = await call_next(request)
        finally:
            var.reset(token)
        response.headers["X-Request-ID"] = rid
        return response


def test_request_ids_accepts_both_kinds_of_middleware():
    for answer in (pure_request_ids, http_middleware_request_ids):
        result = run_check("07.request_id_middleware", {"install_request_ids": answer})
        assert result.passed, (answer.__name__, result)


def test_request_ids_rejects_a_global_and_a_missing_reset():
    def global_variable(app: FastAPI, var: ContextVar[str]) -> None:
        current = {"id": "-"}

        @app.middleware("http")
        async def ids(request: Request, call_next: Any) -> Any:
            current["id"] = request.headers.get("x-request-id") or uuid.uuid4().hex
            var.set(current["id"])
            response = await call_next(request)
            response.headers["X-Request-ID"] = current["id"]   # by now another request overwrote it
            return response

    result = run_check("07.request_id_middleware", {"install_request_ids": global_variable})
    assert result.status == "failed" and "header" in result.message, result

    def trusts_anything(app: FastAPI, var: ContextVar[str]) -> None:
        class Ids:
            def __init__(self, app: Any) -> None:
                self.app = app

            async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
                rid = Headers(scope=scope).get("X-Request-ID") or uuid.uuid4().hex
                token = var.set(rid)

                async def send_with_id(message: Any) -> None:
                    if message["type"] == "http.response.start":
                        MutableHeaders(scope=message)["X-Request-ID"] = rid
                    await send(message)

                try:
                    await self.app(scope, receive, send_with_id)
                finally:
                    var.reset(token)

        app.add_middleware(Ids)

    result = run_check("07.request_id_middleware", {"install_request_ids": trusts_anything})
    assert result.status == "failed" and "invalid id" in result.message, result

    def never_resets(app: FastAPI, var: ContextVar[str]) -> None:
        class Ids:
            def __init__(self, app: Any) -> None:
                self.app = app

            async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
                incoming = Headers(scope=scope).get("X-Request-ID")
                rid = incoming if incoming and VALID.fullmatch(incoming) else uuid.uuid4().hex
                var.set(rid)

                async def send_with_id(message: Any) -> None:
                    if message["type"] == "http.response.start":
                        MutableHeaders(scope=message)["X-Request-ID"] = rid
                    await send(message)

                await self.app(scope, receive, send_with_id)

        app.add_middleware(Ids)

    result = run_check("07.request_id_middleware", {"install_request_ids": never_resets})
    assert result.status == "failed" and "reset" in result.message, result


def middleware_error_handler(app: FastAPI, logger: logging.Logger) -> None:
    @app.middleware("http")
    async def errors(request: Request, call_next: Any) -> Any:
        try:
            return await call_next(request)
        except Exception:
            logger.exception("unhandled error in %s %s", request.method, request.url.path)
            return JSONResponse({"error": "internal server error", "request_id": request_id.get()}, 500)


def test_error_handler_accepts_a_middleware_and_rejects_leaks():
    assert run_check("07.error_handler", {"install_error_handler": middleware_error_handler}).passed

    def leaky(app: FastAPI, logger: logging.Logger) -> None:
        @app.middleware("http")
        async def errors(request: Request, call_next: Any) -> Any:
            try:
                return await call_next(request)
            except Exception as exc:
                logger.exception("boom")
                return JSONResponse({"error": str(exc), "request_id": request_id.get()}, 500)

    result = run_check("07.error_handler", {"install_error_handler": leaky})
    assert result.status == "failed" and "leaks" in result.message, result


def test_error_handler_explains_why_an_exception_handler_misses_the_id():
    def outer_handler(app: FastAPI, logger: logging.Logger) -> None:
        @app.exception_handler(Exception)
        async def crash(request: Request, exc: Exception) -> JSONResponse:
            logger.exception("crash")
            return JSONResponse({"error": "internal server error", "request_id": request_id.get()}, 500)

    result = run_check("07.error_handler", {"install_error_handler": outer_handler})
    assert result.status == "failed" and "outside every middleware" in result.message, result

    def catches_http_errors(app: FastAPI, logger: logging.Logger) -> None:
        from starlette.exceptions import HTTPException

        @app.exception_handler(HTTPException)
        async def everything(request: Request, exc: Exception) -> JSONResponse:
            return JSONResponse({"error": "internal server error", "request_id": request_id.get()}, 500)

        middleware_error_handler(app, logger)

    result = run_check("07.error_handler", {"install_error_handler": catches_http_errors})
    assert result.status == "failed" and "404" in result.message, result

    def no_traceback(app: FastAPI, logger: logging.Logger) -> None:
        @app.middleware("http")
        async def errors(request: Request, call_next: Any) -> Any:
            try:
                return await call_next(request)
            except Exception:
                logger.error("something failed")
                return JSONResponse({"error": "internal server error", "request_id": request_id.get()}, 500)

    result = run_check("07.error_handler", {"install_error_handler": no_traceback})
    assert result.status == "failed" and "traceback" in result.message, result


async def good_finder(seconds: float) -> list[str]:
    me = asyncio.current_task()
    before = [t for t in asyncio.all_tasks() if t is not me]
    await asyncio.sleep(seconds)
    return sorted(t.get_name() for t in before if not t.done())


def test_find_stuck_tasks_accepts_a_snapshot_and_rejects_common_slips():
    assert run_check("07.find_stuck_tasks", {"find_stuck_tasks": good_finder}).passed

    async def looks_after_the_wait(seconds: float) -> list[str]:
        await asyncio.sleep(seconds)
        me = asyncio.current_task()
        return sorted(t.get_name() for t in asyncio.all_tasks() if t is not me and not t.done())

    result = run_check("07.find_stuck_tasks", {"find_stuck_tasks": looks_after_the_wait})
    assert result.status == "failed" and "snapshot" in result.message, result

    async def includes_itself(seconds: float) -> list[str]:
        before = list(asyncio.all_tasks())
        await asyncio.sleep(seconds)
        return sorted(t.get_name() for t in before if not t.done())

    result = run_check("07.find_stuck_tasks", {"find_stuck_tasks": includes_itself})
    assert result.status == "failed" and "current_task" in result.message, result

    async def returns_tasks(seconds: float) -> list[Any]:
        me = asyncio.current_task()
        before = [t for t in asyncio.all_tasks() if t is not me]
        await asyncio.sleep(seconds)
        return [t for t in before if not t.done()]

    result = run_check("07.find_stuck_tasks", {"find_stuck_tasks": returns_tasks})
    assert result.status == "failed" and "get_name" in result.message, result


def test_stubs_are_not_attempted():
    async def stub_finder(seconds: float) -> list[str]:
        raise NotImplementedError()

    def stub(*args: Any) -> None:
        raise NotImplementedError()

    for ex_id, target, fn in (("07.request_id_middleware", "install_request_ids", stub),
                              ("07.error_handler", "install_error_handler", stub),
                              ("07.find_stuck_tasks", "find_stuck_tasks", stub_finder)):
        assert run_check(ex_id, {target: fn}).status == "not attempted", ex_id
