"""The small apps the benchmark serves. ``app`` (the trivial one) is what standalone uvicorn imports."""

from __future__ import annotations

import asyncio
import csv
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite
import anyio.to_thread
from fastapi import FastAPI

ROOT = Path(__file__).resolve().parent.parent

# The same query for both database endpoints: a scan with a LIKE filter and a sort.
QUERY = "SELECT id, title, author, year FROM books WHERE author LIKE ? ORDER BY year DESC, id LIMIT 10"
PATTERN = "%an%"


def trivial_app() -> FastAPI:
    """``GET /ping`` answers at once; ``GET /slow`` awaits 0.1 s (or ``?delay=``) first."""
    app = FastAPI()

    @app.get("/ping")
    async def ping() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/slow")
    async def slow(delay: float = 0.1) -> dict[str, float]:
        await asyncio.sleep(delay)
        return {"slept": delay}

    return app


app = trivial_app()


def staircase_app(tokens: int) -> FastAPI:
    """``def`` endpoints that sleep 0.1 s; the thread pool gets ``tokens`` tokens.

    ``GET /block`` declares its return type, so FastAPI also validates the response in the thread
    pool (a second trip through the same limiter); ``GET /block-plain`` has ``response_model=None``.
    ``app.state.peak`` records the most calls that slept at the same time.
    """
    lock = threading.Lock()
    running = 0

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The default limiter belongs to the running event loop: set it from that loop.
        anyio.to_thread.current_default_thread_limiter().total_tokens = tokens
        yield

    app = FastAPI(lifespan=lifespan)
    app.state.peak = 0

    def sleep_counted(delay: float) -> None:
        nonlocal running
        with lock:
            running += 1
            app.state.peak = max(app.state.peak, running)
        try:
            time.sleep(delay)
        finally:
            with lock:
                running -= 1

    @app.get("/block")
    def block(delay: float = 0.1) -> dict[str, float]:
        sleep_counted(delay)
        return {"slept": delay}

    @app.get("/block-plain", response_model=None)
    def block_plain(delay: float = 0.1) -> dict[str, float]:
        sleep_counted(delay)
        return {"slept": delay}

    return app


def make_books_db(path: Path) -> int:
    """Write the course's catalogue (``data/books.csv``) into a SQLite file; returns the row count."""
    with open(ROOT / "data" / "books.csv", newline="", encoding="utf-8") as f:
        rows = [(int(r["id"]), r["title"], r["author"], int(r["year"]), r["language"]) for r in csv.DictReader(f)]
    conn = sqlite3.connect(path)
    try:
        conn.execute("DROP TABLE IF EXISTS books")
        conn.execute("CREATE TABLE books (id INTEGER PRIMARY KEY, title TEXT NOT NULL, author TEXT NOT NULL, "
                     "year INTEGER NOT NULL, language TEXT NOT NULL)")
        conn.executemany("INSERT INTO books VALUES (?, ?, ?, ?, ?)", rows)
        conn.commit()
    finally:
        conn.close()
    return len(rows)


def sqlite_app(path: Path) -> FastAPI:
    """The same query two ways.

    * ``GET /aiosqlite``: ``async def`` with one shared aiosqlite connection (opened by the lifespan,
      the way the Bookshelf app does it).
    * ``GET /sqlite3``: ``def`` (so FastAPI runs it in the thread pool) with one sqlite3 connection
      per pool thread.
    """
    local = threading.local()
    opened: list[sqlite3.Connection] = []
    opened_lock = threading.Lock()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.db = await aiosqlite.connect(path)
        try:
            yield
        finally:
            await app.state.db.close()
            with opened_lock:
                for conn in opened:
                    conn.close()
                opened.clear()

    app = FastAPI(lifespan=lifespan)

    @app.get("/aiosqlite")
    async def with_aiosqlite() -> list[dict[str, Any]]:
        async with app.state.db.execute(QUERY, (PATTERN,)) as cursor:
            rows = await cursor.fetchall()
        return [{"id": r[0], "title": r[1], "author": r[2], "year": r[3]} for r in rows]

    @app.get("/sqlite3")
    def with_sqlite3() -> list[dict[str, Any]]:
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = sqlite3.connect(path, check_same_thread=False)
            with opened_lock:
                opened.append(conn)
        rows = conn.execute(QUERY, (PATTERN,)).fetchall()
        return [{"id": r[0], "title": r[1], "author": r[2], "year": r[3]} for r in rows]

    return app
