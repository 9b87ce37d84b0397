"""Stand-ins for lessons 02 and 03 (see the package docstring): not the answers, they do less.

A stand-in keeps a lesson running from top to bottom; it is deliberately *not* the exercise's answer:
it does less (no validation, no lifespan, no dependency), and the exercise's self-check fails it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from fastapi import Body, FastAPI

__all__ = ["notes_app", "call_once"]

T = TypeVar("T")


def _notes_app() -> FastAPI:
    """Lesson 02's app reduced to an unvalidated list of notes in a module-level variable."""
    app = FastAPI(title="stand-in for exercise 2.1")
    notes: list[dict[str, Any]] = []

    @app.post("/notes", status_code=201)
    async def add_note(payload: dict[str, Any] = Body(...)) -> dict[str, Any]:
        note = {"id": len(notes) + 1, "text": str(payload.get("text", ""))}
        notes.append(note)
        return note

    @app.get("/notes")
    async def list_notes() -> list[dict[str, Any]]:
        return notes

    return app


notes_app = _notes_app()
"""Served as ``labkit.standins:notes_app`` when ``myshelf.main:app`` cannot run yet."""


async def call_once(call: Callable[[], Awaitable[T]], **ignored: Any) -> T:
    """Lesson 03's ``with_retries`` reduced to a single attempt: the retry and the backoff are yours to write."""
    return await call()
