"""FastAPI dependencies: hand each endpoint the shared resources the lifespan created."""

from __future__ import annotations

from typing import Annotated

from fastapi import HTTPException, Path, Request

from .catalogue import Catalogue
from .db import Shelf
from .fanout import Upstreams
from .jobs import RatingsRefresher
from .models import MAX_ID, Book
from .monitor import LagMonitor

__all__ = ["BookIdPath", "get_catalogue", "get_shelf", "get_upstreams", "get_book", "get_monitor", "get_refresher"]

# A book id in a URL path: 1 to MAX_ID, anything else is answered with 422 before any query runs.
BookIdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="a book's id in the catalogue")]

# The dependencies below only read app.state, so they are `async def`: FastAPI runs a plain `def`
# dependency in its thread pool, which costs a thread hop on every request for no blocking work at all.


async def get_catalogue(request: Request) -> Catalogue:
    """The catalogue (in memory in lesson 03, SQLite from lesson 04)."""
    return request.app.state.catalogue


async def get_shelf(request: Request) -> Shelf:
    """The shelf, backed by the app's one database connection."""
    return request.app.state.shelf


async def get_upstreams(request: Request) -> Upstreams:
    """The app's one HTTP client and the upstream services' URLs."""
    return request.app.state.upstreams


async def get_monitor(request: Request) -> LagMonitor:
    """The event-loop lag monitor (lesson 05)."""
    return request.app.state.monitor


async def get_refresher(request: Request) -> RatingsRefresher:
    """The background ratings refresher (lesson 06)."""
    return request.app.state.refresher


async def get_book(request: Request, book_id: BookIdPath) -> Book:
    """The catalogue book named in the path, or 404."""
    book = await request.app.state.catalogue.get(book_id)
    if book is None:
        raise HTTPException(404, f"book {book_id} not found")
    return book
