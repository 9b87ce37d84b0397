"""Lesson 10's workers app: the state that ``uvicorn --workers N`` processes share, kept in-process or in
Redis and PostgreSQL, for ``uvicorn labkit.standins.lesson10:app --workers N``.

Configured like the Bookshelf app: with no URL it keeps its state in each process and its rows in the SQLite
file ``BOOKSHELF_DB``; ``BOOKSHELF_REDIS_URL`` moves the counter, lock, queue and cache to Redis, and
``BOOKSHELF_DATABASE_URL`` the rows to PostgreSQL (a pool of ``BOOKSHELF_POOL_SIZE`` connections per process).

Lesson 10's exercises are parts of it: ``myshelf/counter.py`` (``next_job_id``), ``myshelf/redislock.py``
(``RedisLock``) and ``myshelf/pgshelf.py`` (``add_to_shelf``). While yours is missing or a
stub the app uses the stand-ins below, which are deliberately *not* the answers: a counter that reads then writes,
a lock that guards one process only, a shelf write that keeps no count. ``GET /whoami`` says which it uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import random
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, HTTPException, Request

__all__ = ["app", "create_app", "next_job_id_read_then_write", "add_to_shelf_without_count", "SCHEMA_SQL",
           "SQLITE_SCHEMA", "STREAM", "GROUP"]

STREAM, GROUP = "tasks", "workers"   # the Redis stream of background tasks and its consumer group
CLAIM_IDLE_MS = 1000                 # a task read but not acknowledged for this long belongs to a dead worker
CACHE_TTL_S = 30

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS shelf (
    user_name text NOT NULL,
    book_id integer NOT NULL,
    added_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_name, book_id)
);
CREATE TABLE IF NOT EXISTS shelf_counts (user_name text PRIMARY KEY, books integer NOT NULL);
CREATE TABLE IF NOT EXISTS visits (id bigserial PRIMARY KEY, book_id integer NOT NULL, pid integer NOT NULL);
CREATE TABLE IF NOT EXISTS tasks_done (task text PRIMARY KEY, pid integer NOT NULL);
"""
SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS shelf (user_name TEXT NOT NULL, book_id INTEGER NOT NULL, PRIMARY KEY (user_name, book_id));
CREATE TABLE IF NOT EXISTS shelf_counts (user_name TEXT PRIMARY KEY, books INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS visits (id INTEGER PRIMARY KEY, book_id INTEGER NOT NULL, pid INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS tasks_done (task TEXT PRIMARY KEY, pid INTEGER NOT NULL);
"""


# -- stand-ins (not the answers) ---------------------------------------------------------------------------

async def next_job_id_read_then_write(redis: Any) -> int:
    """Stand-in for exercise 10.1: reads the last id, then writes it + 1: two workers can read the same id."""
    last = int(await redis.get("jobs:last_id") or 0)
    await redis.set("jobs:last_id", last + 1)
    return last + 1


async def add_to_shelf_without_count(pool: Any, user: str, book_id: int) -> bool:
    """Stand-in for exercise 10.3: inserts the row, keeps no count and uses no transaction."""
    async with pool.acquire() as conn:
        status = await conn.execute("INSERT INTO shelf (user_name, book_id) VALUES ($1, $2) "
                                    "ON CONFLICT DO NOTHING", user, book_id)
    return status.endswith(" 1")


def _parts() -> dict[str, Any]:
    """The learner's lesson-10 parts where they exist and are not stubs, else ``None`` (a stand-in is used)."""
    from labkit.myshelf import is_stub, load_module

    found: dict[str, Any] = {}
    for module, names in (("counter", ("next_job_id",)), ("redislock", ("RedisLock",)),
                          ("pgshelf", ("add_to_shelf",))):
        try:
            loaded = load_module(module)
        except Exception:  # noqa: BLE001 - missing or broken: the stand-in serves, /whoami says so
            loaded = None
        for name in names:
            fn = getattr(loaded, name, None)
            found[name] = fn if callable(fn) and not is_stub(fn) else None
    return found


# -- the app ------------------------------------------------------------------------------------------------

def create_app(environ: dict[str, str] | None = None) -> FastAPI:
    """The workers app, configured from ``environ`` (default: the process's environment)."""
    env = dict(os.environ if environ is None else environ)
    redis_url, database_url = env.get("BOOKSHELF_REDIS_URL"), env.get("BOOKSHELF_DATABASE_URL")
    pool_size = int(env.get("BOOKSHELF_POOL_SIZE", "5"))
    sqlite_path = env.get("BOOKSHELF_DB", "lesson10.db")

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = app.state
        state.parts = _parts()
        state.job_ids = itertools.count(1)       # in-process: each worker counts from 1
        state.cache: dict[int, tuple[float, dict[str, Any]]] = {}
        state.stock_lock = asyncio.Lock()        # in-process: guards this worker only
        state.db_lock = asyncio.Lock()           # one SQLite connection per worker: one statement at a time
        state.queue: asyncio.Queue[str] = asyncio.Queue()
        state.redis = state.pool = state.sqlite = None
        async with contextlib.AsyncExitStack() as stack:
            if redis_url:
                import redis.asyncio as aioredis

                state.redis = aioredis.from_url(redis_url, decode_responses=True)
                stack.push_async_callback(state.redis.aclose)
                with contextlib.suppress(Exception):  # BUSYGROUP: another worker created it first
                    await state.redis.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
            if database_url:
                import asyncpg

                state.pool = await asyncpg.create_pool(database_url, min_size=1, max_size=pool_size)
                stack.push_async_callback(state.pool.close)
                async with state.pool.acquire() as conn, conn.transaction():
                    await conn.execute("SELECT pg_advisory_xact_lock(10)")  # one worker creates the tables
                    await conn.execute(SCHEMA_SQL)
            else:
                import aiosqlite

                state.sqlite = await aiosqlite.connect(sqlite_path, timeout=30, isolation_level=None)
                stack.push_async_callback(state.sqlite.close)
                await state.sqlite.execute("PRAGMA journal_mode=WAL")
                await state.sqlite.executescript(SQLITE_SCHEMA)
            worker = asyncio.create_task(_task_worker(state))

            async def stop_worker() -> None:
                worker.cancel()
                await asyncio.gather(worker, return_exceptions=True)

            stack.push_async_callback(stop_worker)
            yield

    app = FastAPI(title="Lesson 10: several workers", lifespan=lifespan)

    @app.get("/whoami")
    async def whoami(request: Request) -> dict[str, Any]:
        """This worker's process id, its backends, and whose lesson-10 parts it runs."""
        state = request.app.state
        return {"pid": os.getpid(), "redis": state.redis is not None, "postgres": state.pool is not None,
                "parts": {name: "yours" if fn else "stand-in" for name, fn in state.parts.items()}}

    @app.post("/jobs")
    async def new_job(request: Request) -> dict[str, int]:
        """A new job id: in-process, each worker counts on its own; with Redis, your ``next_job_id``."""
        state = request.app.state
        if state.redis is None:
            job_id = next(state.job_ids)
        else:
            job_id = await (state.parts["next_job_id"] or next_job_id_read_then_write)(state.redis)
        return {"id": int(job_id), "pid": os.getpid()}

    @app.get("/ratings/{book_id}")
    async def rating(book_id: int, request: Request) -> dict[str, Any]:
        """An expensive rating, cached for 30 s: per worker in-process, or once for all in Redis."""
        state = request.app.state
        if state.redis is not None:
            cached = await state.redis.hgetall(f"rating:{book_id}")
            if cached:
                return {"rating": float(cached["rating"]), "computed_by": int(cached["pid"]), "cached": True}
        else:
            hit = state.cache.get(book_id)
            if hit and hit[0] > time.monotonic():
                return {**hit[1], "cached": True}
        await asyncio.sleep(0.02)                                  # the expensive part
        value = {"rating": round(random.uniform(2.5, 5.0), 2), "computed_by": os.getpid()}
        if state.redis is not None:
            async with state.redis.pipeline(transaction=True) as pipe:   # MULTI/EXEC: value and TTL together
                pipe.hset(f"rating:{book_id}", mapping={"rating": value["rating"], "pid": value["computed_by"]})
                pipe.expire(f"rating:{book_id}", CACHE_TTL_S)
                await pipe.execute()
        else:
            state.cache[book_id] = (time.monotonic() + CACHE_TTL_S, value)
        return {**value, "cached": False}

    @app.post("/stock/{book_id}/reserve")
    async def reserve(book_id: int, request: Request, lock: str = "asyncio") -> dict[str, Any]:
        """Take one copy: read the count in Redis, work 2 ms, write count - 1, under ``lock`` (asyncio|redis)."""
        state = request.app.state
        if state.redis is None:
            raise HTTPException(409, "the stock lives in Redis: start the app with BOOKSHELF_REDIS_URL")
        if lock not in ("asyncio", "redis"):
            raise HTTPException(422, "lock must be 'asyncio' or 'redis'")
        lock_class = state.parts["RedisLock"]
        key = f"stock:{book_id}"

        async def take() -> bool:
            left = int(await state.redis.get(key) or 0)
            if left <= 0:
                return False
            await asyncio.sleep(0.002)                              # the rest of the request's work
            await state.redis.set(key, left - 1)
            return True

        if lock == "redis" and lock_class is not None:
            shared = lock_class(state.redis, key, 2000)
            deadline = time.monotonic() + 10
            while not await shared.acquire():
                if time.monotonic() > deadline:
                    raise HTTPException(503, "the lock stayed taken for 10 s", headers={"Retry-After": "1"})
                await asyncio.sleep(0.002)
            try:
                return {"reserved": await take(), "lock": "redis", "pid": os.getpid()}
            finally:
                await shared.release()
        async with state.stock_lock:
            return {"reserved": await take(), "lock": "asyncio (this worker only)", "pid": os.getpid()}

    @app.post("/shelf/{user}/{book_id}")
    async def add(user: str, book_id: int, request: Request) -> dict[str, Any]:
        """Put a book on a user's shelf (once); with PostgreSQL through your ``add_to_shelf``."""
        state = request.app.state
        if state.pool is not None:
            added = await (state.parts["add_to_shelf"] or add_to_shelf_without_count)(state.pool, user, book_id)
        else:
            db = state.sqlite
            async with state.db_lock:
                await db.execute("BEGIN IMMEDIATE")
                try:
                    cursor = await db.execute("INSERT OR IGNORE INTO shelf VALUES (?, ?)", (user, book_id))
                    added = cursor.rowcount == 1
                    if added:
                        await db.execute("INSERT INTO shelf_counts VALUES (?, 1) ON CONFLICT (user_name) "
                                         "DO UPDATE SET books = books + 1", (user,))
                    await db.execute("COMMIT")
                except BaseException:
                    await db.execute("ROLLBACK")
                    raise
        return {"added": bool(added), "pid": os.getpid()}

    @app.post("/visits/{book_id}")
    async def visit(book_id: int, request: Request) -> dict[str, int]:
        """The measured request: one row written, one counter incremented."""
        state = request.app.state
        if state.pool is not None:
            async with state.pool.acquire() as conn:
                row_id = await conn.fetchval("INSERT INTO visits (book_id, pid) VALUES ($1, $2) RETURNING id",
                                             book_id, os.getpid())
        else:
            async with state.db_lock:
                cursor = await state.sqlite.execute("INSERT INTO visits (book_id, pid) VALUES (?, ?)",
                                                    (book_id, os.getpid()))
                row_id = cursor.lastrowid
        count = await state.redis.incr(f"visits:{book_id}") if state.redis else next(state.job_ids)
        return {"id": int(row_id), "count": int(count)}

    @app.post("/tasks", status_code=202)
    async def submit(request: Request, n: int = 1) -> dict[str, Any]:
        """Queue ``n`` background tasks (each takes 50 ms): an ``asyncio.Queue``, or a Redis stream."""
        if not 1 <= n <= 1000:
            raise HTTPException(422, "n must be between 1 and 1000")
        state = request.app.state
        names = [f"{os.getpid()}-{time.time_ns()}-{i}" for i in range(n)]
        for name in names:
            if state.redis is not None:
                await state.redis.xadd(STREAM, {"task": name})
            else:
                state.queue.put_nowait(name)
        return {"queued": n, "tasks": names}

    @app.get("/tasks/done")
    async def done(request: Request) -> dict[str, int]:
        """How many tasks have been finished (recorded in the database: it outlives the workers)."""
        state = request.app.state
        if state.pool is not None:
            count = await state.pool.fetchval("SELECT count(*) FROM tasks_done")
        else:
            async with state.db_lock, state.sqlite.execute("SELECT count(*) FROM tasks_done") as cursor:
                (count,) = await cursor.fetchone()
        return {"done": int(count)}

    return app


async def _record_done(state: Any, task: str) -> None:
    if state.pool is not None:
        await state.pool.execute("INSERT INTO tasks_done VALUES ($1, $2) ON CONFLICT DO NOTHING", task, os.getpid())
    else:
        async with state.db_lock:
            await state.sqlite.execute("INSERT OR IGNORE INTO tasks_done VALUES (?, ?)", (task, os.getpid()))


async def _task_worker(state: Any) -> None:
    """Each worker process runs one of these: take a task, work 50 ms, record it as done."""
    if state.redis is None:
        while True:
            task = await state.queue.get()
            await asyncio.sleep(0.05)
            await _record_done(state, task)
            state.queue.task_done()
    consumer = f"worker-{os.getpid()}"
    redis = state.redis
    while True:
        # First what a dead worker read and never acknowledged, then new entries (">").
        _, claimed, _ = await redis.xautoclaim(STREAM, GROUP, consumer, min_idle_time=CLAIM_IDLE_MS, count=10)
        entries = [(entry_id, fields) for entry_id, fields in claimed if fields]
        if not entries:
            read = await redis.xreadgroup(GROUP, consumer, {STREAM: ">"}, count=1, block=200)
            entries = [entry for _, items in read for entry in items]
        for entry_id, fields in entries:
            await asyncio.sleep(0.05)
            await _record_done(state, fields["task"])
            await redis.xack(STREAM, GROUP, entry_id)  # only now is the task off the worker's pending list


app = create_app()
