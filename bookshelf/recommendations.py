"""Recommendations (lesson 09, the capstone): ``GET /recommendations`` uses every lesson at once.

For the books on your shelf the endpoint

1. asks the database for candidates: books not on the shelf that share subjects with it (``CANDIDATES_SQL``);
2. fetches each candidate's rating from the ratings service, at most ``limit`` calls at a time across all
   requests (one ``asyncio.Semaphore``), and waits for them until an overall ``deadline``;
3. caches ratings safely: one fetch per book however many requests want it at once (the requests share
   the fetch's task, "single flight"); only successful answers are cached;
4. answers with what it has when the deadline passes: books still without a rating are listed in
   ``missing`` and ``partial`` is true. Fetches that are still running are not cancelled: they finish (the
   client's per-call timeout bounds them) and fill the cache for the next request. At shutdown, those still
   running are cancelled and awaited, before the app closes its HTTP client;
5. logs on ``bookshelf.recommendations``; with ``instrument(app)`` (lesson 07) every line carries the
   request's id.

``add_recommendations(app)`` adds the route to an app from ``create_app(settings, stage=4)`` or later.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from pydantic import BaseModel, Field

from .models import Rating
from .observability import instrument

__all__ = ["CANDIDATES_SQL", "Recommendation", "Recommendations", "add_recommendations", "rank_key"]

log = logging.getLogger("bookshelf.recommendations")

# Books not on the shelf, with how many subjects they share with the books on it; most shared first.
CANDIDATES_SQL = """
SELECT b.id, b.title, b.author, COUNT(*) AS shared
FROM books AS b JOIN book_subjects AS s ON s.book_id = b.id
WHERE s.subject IN (SELECT subject FROM book_subjects WHERE book_id IN (SELECT book_id FROM shelf))
  AND b.id NOT IN (SELECT book_id FROM shelf)
GROUP BY b.id
ORDER BY shared DESC, b.id
LIMIT ?
"""


class Recommendation(BaseModel):
    """One recommended book: how many subjects it shares with your shelf, and its rating (if it came in time)."""

    book_id: int
    title: str
    author: str
    shared_subjects: int
    rating: float | None = Field(description="average rating; null when the ratings service did not answer in time")


class Recommendations(BaseModel):
    """Best-rated first. ``partial`` is true when some ratings are ``missing`` (listed by book id)."""

    items: list[Recommendation]
    partial: bool
    missing: list[int]


def rank_key(item: Recommendation) -> tuple[bool, float, int, int]:
    """Rated books first, highest rating first; then more shared subjects; then the lower id."""
    return (item.rating is None, -(item.rating or 0.0), -item.shared_subjects, item.book_id)


def add_recommendations(app: FastAPI, *, limit: int = 4, deadline: float = 0.5, candidates: int = 10) -> FastAPI:
    """Add ``GET /recommendations`` to ``app`` (stage 4 or later) and request ids to its logs; return ``app``."""
    ### BEGIN SOLUTION
    instrument(app)                                   # lesson 07: a request id on every log line
    semaphore = asyncio.Semaphore(limit)              # at most `limit` rating calls at once, for all requests
    cache: dict[int, Rating] = {}                     # book id -> rating (successful answers only)
    in_flight: dict[int, asyncio.Task[Rating]] = {}   # book id -> the one fetch running for it

    async def fetch(upstreams: Any, book_id: int) -> Rating:
        async with semaphore:
            return await upstreams.rating(book_id)

    def rating_of(upstreams: Any, book_id: int) -> asyncio.Task[Rating]:
        """The task fetching this book's rating: the running one if there is one, else a new one."""
        task = in_flight.get(book_id)
        if task is None:
            task = asyncio.create_task(fetch(upstreams, book_id), name=f"rating-{book_id}")
            in_flight[book_id] = task

            def finished(t: asyncio.Task[Rating]) -> None:
                in_flight.pop(book_id, None)
                if not t.cancelled() and t.exception() is None:   # failures are not cached
                    cache[book_id] = t.result()

            task.add_done_callback(finished)
        return task

    @asynccontextmanager
    async def cancel_fetches(app: FastAPI) -> AsyncIterator[None]:
        """At shutdown, cancel the fetches still running and wait for them to end."""
        try:
            yield
        finally:
            running = list(in_flight.values())
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)

    # An included router's lifespan runs inside the app's: this shutdown comes before the client is closed.
    app.include_router(APIRouter(lifespan=cancel_fetches))

    @app.get("/recommendations", tags=["lesson 09"])
    async def recommendations(request: Request) -> Recommendations:
        """Books like those on your shelf, best-rated first; ``partial`` if some ratings came too late."""
        loop = asyncio.get_running_loop()
        end = loop.time() + deadline
        async with request.app.state.db.conn.execute(CANDIDATES_SQL, (candidates,)) as cursor:
            rows = [dict(row) for row in await cursor.fetchall()]
        upstreams = request.app.state.upstreams
        tasks = {row["id"]: rating_of(upstreams, row["id"]) for row in rows if row["id"] not in cache}
        log.info("%d candidates, %d ratings cached, %d to fetch", len(rows), len(rows) - len(tasks), len(tasks))
        if tasks:
            await asyncio.wait(tasks.values(), timeout=max(0.0, end - loop.time()))  # never cancels them
        ratings: dict[int, float] = {}
        for row in rows:
            task = tasks.get(row["id"])
            if task is None:
                ratings[row["id"]] = cache[row["id"]].average
            elif task.done() and not task.cancelled() and task.exception() is None:
                ratings[row["id"]] = task.result().average
        items = sorted((Recommendation(book_id=row["id"], title=row["title"], author=row["author"],
                                       shared_subjects=row["shared"], rating=ratings.get(row["id"]))
                        for row in rows), key=rank_key)
        missing = sorted(row["id"] for row in rows if row["id"] not in ratings)
        if missing:
            log.warning("answering without %d rating(s) after %.2f s: %s", len(missing), deadline, missing)
        else:
            log.info("all %d ratings in", len(rows))
        return Recommendations(items=items, partial=bool(missing), missing=missing)
    ### END SOLUTION

    return app
