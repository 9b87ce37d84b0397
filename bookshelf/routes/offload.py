"""Lesson 05 endpoints: CPU work kept off the event loop, and the loop-lag monitor's readings."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from ..deps import get_book, get_monitor
from ..models import Book
from ..monitor import LagMonitor
from ..recommend import similar_books

router = APIRouter(tags=["lesson 05"])


@router.get("/books/{book_id}/similar", responses={404: {"description": "no such book"}})
async def similar(request: Request, book: Annotated[Book, Depends(get_book)],
                  limit: Annotated[int, Query(ge=1, le=50)] = 5) -> list[Book]:
    """The books most like this one; the ranking (CPU work) runs through the app's ``offload`` part, off the loop."""
    offload = request.app.state.parts["offload"]
    return await offload(similar_books, request.app.state.books, book, limit)


@router.get("/health/loop")
async def loop_lag(monitor: Annotated[LagMonitor, Depends(get_monitor)]) -> dict[str, float | int]:
    """How late the event loop has been waking up sleeping tasks (milliseconds)."""
    return monitor.report()
