"""Lesson 02's checks pass correct answers and reject the typical wrong ones with a useful message."""
# No `from __future__ import annotations` here: FastAPI must see the real annotations of the endpoints defined
# inside make_app (their Depends refers to a local function), as in the learner's cell.


import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI, Request
from pydantic import BaseModel, Field

import labkit
from labkit.checks import run_check


class Notes:
    """The store exercise 2.1 gives (the check finds it in create_app's module globals)."""

    opened: list["Notes"] = []

    def __init__(self) -> None:
        self.items: list[dict] = []
        self.closed = False
        Notes.opened.append(self)

    def add(self, text: str) -> dict:
        note = {"id": len(self.items) + 1, "text": text}
        self.items.append(note)
        return note

    async def aclose(self) -> None:
        self.closed = True


class NoteIn(BaseModel):
    text: str = Field(min_length=1, max_length=200)


def make_app(mistake: str | None = None) -> FastAPI:
    """The correct answer, or the same app with one typical mistake."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if mistake != "no lifespan":
            app.state.notes = Notes()
        try:
            yield
        finally:
            if mistake not in ("no close", "no lifespan"):
                await app.state.notes.aclose()

    async def get_notes(request: Request) -> Notes:
        if mistake == "no lifespan":
            return Notes()  # a new store per request: nothing is kept
        return request.app.state.notes

    app = FastAPI(lifespan=lifespan)

    @app.get("/square/{n}")
    async def square(n: int) -> dict[str, int]:
        return {"n": n, "square": n * n}

    if mistake == "optional name":
        @app.get("/greet")
        async def greet_optional(name: str = "world") -> dict[str, str]:
            return {"message": f"Hello, {name}!"}
    else:
        @app.get("/greet")
        async def greet(name: str) -> dict[str, str]:
            return {"message": f"Hello, {name}!"}

    if mistake == "dict body":
        @app.post("/notes", status_code=201)
        async def add_unvalidated(note: dict, notes: Annotated[Notes, Depends(get_notes)]) -> dict:
            return notes.add(str(note.get("text")))
    elif mistake == "no depends":
        @app.post("/notes", status_code=201)
        async def add_from_state(note: NoteIn, request: Request) -> dict:
            return request.app.state.notes.add(note.text)
    elif mistake == "status 200":
        @app.post("/notes")
        async def add_200(note: NoteIn, notes: Annotated[Notes, Depends(get_notes)]) -> dict:
            return notes.add(note.text)
    else:
        @app.post("/notes", status_code=201)
        async def add_note(note: NoteIn, notes: Annotated[Notes, Depends(get_notes)]) -> dict:
            return notes.add(note.text)

    @app.get("/notes")
    async def list_notes(notes: Annotated[Notes, Depends(get_notes)]) -> list[dict]:
        return notes.items

    return app


def test_create_app_accepts_the_answer():
    result = run_check("02.create_app", {"create_app": make_app})
    assert result.passed, result.message


@pytest.mark.parametrize("mistake, says", [
    ("optional name", "required query parameter"),
    ("no lifespan", "open one `Notes()` store in the lifespan"),
    ("no close", "should close the store"),
    ("dict body", "Pydantic model"),
    ("no depends", "Depends"),
    ("status 200", "expected 201"),
])
def test_create_app_names_each_typical_mistake(mistake, says):
    result = run_check("02.create_app", {"create_app": lambda: make_app(mistake)})
    assert result.status == "failed" and says in result.message, result


def test_create_app_rejects_an_untyped_path_parameter():
    def untyped() -> FastAPI:
        app = FastAPI()

        @app.get("/square/{n}")
        async def square(n):  # noqa: ANN001 - the mistake under test
            return {"n": n, "square": n}

        return app

    result = run_check("02.create_app", {"create_app": untyped})
    assert result.status == "failed" and "/square/7" in result.message, result


def test_create_app_needs_the_given_store_class():
    namespace: dict = {"FastAPI": FastAPI}
    exec("def create_app():\n    return FastAPI()\n", namespace)  # a module without the given Notes class
    result = run_check("02.create_app", namespace)
    assert result.status == "failed" and "keep the given `Notes` class" in result.message


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
