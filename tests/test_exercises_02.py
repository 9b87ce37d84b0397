"""Lesson 02's checks pass correct answers and reject the typical wrong ones with a useful message."""

from __future__ import annotations

import asyncio

import httpx
from fastapi import FastAPI

import labkit
from labkit.checks import run_check


def good_create_app() -> FastAPI:
    app = FastAPI()

    @app.get("/square/{n}")
    async def square(n: int) -> dict[str, int]:
        return {"n": n, "square": n * n}

    @app.get("/greet")
    async def greet(name: str) -> dict[str, str]:
        return {"message": f"Hello, {name}!"}

    return app


def test_create_app_accepts_a_correct_app_and_rejects_optional_name():
    assert run_check("02.create_app", {"create_app": good_create_app}).passed

    def optional_name() -> FastAPI:
        fresh = FastAPI()

        @fresh.get("/square/{n}")
        async def square(n: int) -> dict[str, int]:
            return {"n": n, "square": n * n}

        @fresh.get("/greet")
        async def greet(name: str = "world") -> dict[str, str]:
            return {"message": f"Hello, {name}!"}

        return fresh

    result = run_check("02.create_app", {"create_app": optional_name})
    assert result.status == "failed" and "required query parameter" in result.message


def test_create_app_rejects_an_untyped_path_parameter():
    def untyped() -> FastAPI:
        app = FastAPI()

        @app.get("/square/{n}")
        async def square(n):  # noqa: ANN001 - the mistake under test
            return {"n": n, "square": n}

        return app

    result = run_check("02.create_app", {"create_app": untyped})
    assert result.status == "failed" and "/square/7" in result.message


async def fetch_concurrently(base_url: str, n: int) -> list[dict]:
    async with httpx.AsyncClient(base_url=base_url) as client:
        responses = await asyncio.gather(*(client.get("/slow") for _ in range(n)))
    return [r.json() for r in responses]


async def fetch_sequentially(base_url: str, n: int) -> list[dict]:
    async with httpx.AsyncClient(base_url=base_url) as client:
        return [(await client.get("/slow")).json() for _ in range(n)]


async def fetch_without_closing(base_url: str, n: int) -> list[dict]:
    client = httpx.AsyncClient(base_url=base_url)
    responses = await asyncio.gather(*(client.get("/slow") for _ in range(n)))
    return [r.json() for r in responses]


def test_fetch_many_needs_all_requests_in_flight_and_a_closed_client():
    assert run_check("02.fetch_many", {"fetch_many": fetch_concurrently}).passed
    sequential = run_check("02.fetch_many", {"fetch_many": fetch_sequentially})
    assert sequential.status == "failed" and "at most 1 request(s) were in flight" in sequential.message
    unclosed = run_check("02.fetch_many", {"fetch_many": fetch_without_closing})
    assert unclosed.status == "failed" and "stayed open" in unclosed.message
    assert not [s for s in labkit.running_servers() if s.name.startswith("check-")], "the check's server leaked"


def report_app(kind: str):
    def make_report_app(slow_report) -> FastAPI:
        app = FastAPI()
        if kind == "def":
            @app.get("/report")
            def report() -> dict:
                return slow_report()
        elif kind == "to_thread":
            @app.get("/report")
            async def report() -> dict:
                return await asyncio.to_thread(slow_report)
        else:
            @app.get("/report")
            async def report() -> dict:
                return slow_report()  # blocks the event loop
        return app

    return make_report_app


def test_unblock_accepts_def_and_to_thread_and_rejects_a_blocking_async_endpoint():
    assert run_check("02.unblock", {"make_report_app": report_app("def")}).passed
    assert run_check("02.unblock", {"make_report_app": report_app("to_thread")}).passed
    blocked = run_check("02.unblock", {"make_report_app": report_app("blocking")})
    assert blocked.status == "failed" and "blocked it" in blocked.message
