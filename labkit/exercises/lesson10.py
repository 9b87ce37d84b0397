"""Lesson 10 (Beyond one process): a job counter in Redis, a Redis lock, a shelf write in one PostgreSQL transaction.

Each check starts its own real server with :mod:`labkit.services` (and stops it), calls the learner's code
from several connections at once, then, when the code lives in the learner's package (``myshelf``), serves
it under ``uvicorn --workers 2`` and checks it over HTTP: what matters in this lesson is what holds across
processes. A missing server program fails the check with the install line, never with a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx

from .. import services
from ..checks import CheckFailed, exercise, expect

__all__ = ["check_next_job_id", "check_redis_lock", "check_add_to_shelf", "APP", "served_by_workers"]

APP = "labkit.standins.lesson10:app"
"""The lesson's workers app: it runs the learner's lesson-10 parts from ``myshelf/``."""


def _need(kind: str, answer: Any) -> None:
    """Fail with the install line when the server is missing; an untouched stub is "not attempted" all the same."""
    if services.available()[kind]:
        return
    from ..myshelf import is_stub

    if is_stub(answer):
        raise NotImplementedError(f"{getattr(answer, '__name__', 'the exercise')} is still the stub")
    raise CheckFailed(services.missing_message(kind))


def _in_package(obj: Any) -> bool:
    """True when ``obj`` comes from the learner's package (a ``%%myshelf`` cell), so uvicorn can import it too."""
    return (getattr(obj, "__module__", "") or "").startswith("myshelf.")


async def _awaited(name: str, value: Any, patience: float = 10.0) -> Any:
    expect(inspect.isawaitable(value),
           f"`{name}` returned {type(value).__name__} without being awaited: define it with `async def`")
    try:
        return await asyncio.wait_for(value, patience)
    except asyncio.TimeoutError:
        raise CheckFailed(f"`{name}` had not returned after {patience:g} s: does it wait for something that "
                          f"never comes (a BLPOP without a timeout, a lock never released)?") from None


@contextlib.asynccontextmanager
async def served_by_workers(check_id: str, part: str, env: dict[str, str],
                            workers: int = 2) -> AsyncIterator[httpx.AsyncClient]:
    """The lesson's app under ``uvicorn --workers N`` with the learner's parts; a client for it (new connections)."""
    from .. import myshelf, outside

    scratch = tempfile.mkdtemp(prefix="labkit-check-")   # the app's SQLite file, when it has no PostgreSQL
    env = {"BOOKSHELF_DB": os.path.join(scratch, "check.db"), **env}
    try:
        server = await asyncio.to_thread(outside.uvicorn, APP, name=f"check-{check_id}", workers=workers,
                                         cwd=myshelf.home(), env=env, timeout=60)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    try:
        limits = httpx.Limits(max_keepalive_connections=0)  # every request on a new connection: any worker
        async with httpx.AsyncClient(base_url=server.url, timeout=30, limits=limits) as client:
            whoami = (await client.get("/whoami")).json()
            expect(whoami["parts"].get(part) == "yours",
                   f"the app under uvicorn did not find your `{part}` in myshelf/: run its `%%myshelf` cell again")
            yield client
    finally:
        await asyncio.to_thread(server.stop)
        shutil.rmtree(scratch, ignore_errors=True)


def _redis_clients(url: str, n: int) -> list[Any]:
    import redis.asyncio as aioredis

    return [aioredis.from_url(url, decode_responses=True) for _ in range(n)]


# -- 10.next_job_id -------------------------------------------------------------------------------

@exercise("10.next_job_id", target="next_job_id", points=2, timeout=90)
async def check_next_job_id(next_job_id: Callable[[Any], Awaitable[int]]) -> None:
    """200 concurrent calls from two connections get 200 different ids, counted in Redis; and over HTTP."""
    _need("redis", next_job_id)
    server = await asyncio.to_thread(services.redis, "check-10.next_job_id")
    clients = _redis_clients(server.url, 2)
    try:
        ids = await _awaited("next_job_id", asyncio.gather(*(next_job_id(clients[i % 2]) for i in range(200))))
        not_int = [i for i in ids if not isinstance(i, int) or isinstance(i, bool)]
        expect(not not_int, f"next_job_id returned {not_int[:1]!r}; return the new id as an int "
                            f"(INCR answers with one)")
        repeated = sorted(i for i, n in Counter(ids).items() if n > 1)
        expect(not repeated,
               f"200 concurrent calls from two connections handed out {len(repeated)} id(s) more than once "
               f"(e.g. {repeated[:3]}): reading the last id and writing it + 1 are two commands, and other "
               f"callers run in between. One command does both on the server: INCR")
        await clients[0].flushall()
        first = await _awaited("next_job_id", next_job_id(clients[1]))
        expect(first == 1,
               f"after Redis was emptied, the next id was {first!r}, not 1: the ids are counted somewhere else "
               f"than in Redis (a variable of this process?), so each worker process would count on its own")
        if _in_package(next_job_id):
            async with served_by_workers("10.next_job_id", "next_job_id",
                                         {"BOOKSHELF_REDIS_URL": server.url}) as client:
                answers = await asyncio.gather(*(client.post("/jobs") for _ in range(60)))
            expect(all(r.status_code == 200 for r in answers),
                   f"POST /jobs answered {sorted({r.status_code for r in answers})} under two workers")
            got = [r.json()["id"] for r in answers]
            expect(len(set(got)) == len(got),
                   f"under `uvicorn --workers 2`, 60 concurrent POST /jobs got {len(got) - len(set(got))} "
                   f"duplicate id(s)")
    finally:
        for client in clients:
            await client.aclose()
        await asyncio.to_thread(server.stop)


# -- 10.redis_lock --------------------------------------------------------------------------------

@exercise("10.redis_lock", target="RedisLock", points=3, timeout=90)
async def check_redis_lock(lock_class: Callable[..., Any]) -> None:
    """``RedisLock(redis, name, ttl_ms)``: one owner at a time, a token, a TTL, and only the owner releases."""
    _need("redis", lock_class)
    server = await asyncio.to_thread(services.redis, "check-10.redis_lock")
    a_conn, b_conn = clients = _redis_clients(server.url, 2)
    try:
        first, second = lock_class(a_conn, "book-7", 5000), lock_class(b_conn, "book-7", 5000)
        expect(await _awaited("acquire", first.acquire()) is True,
               "`acquire()` of a free lock should return True")
        expect(await _awaited("acquire", second.acquire()) is False,
               "a second RedisLock with the same name got the lock while the first held it: "
               "use SET with NX (only if the key does not exist)")
        keys = await a_conn.keys("*")
        expect(keys == ["lock:book-7"], f"the lock should be the one key `lock:book-7`; Redis holds {keys}")
        ttl = await a_conn.pttl("lock:book-7")
        expect(0 < ttl <= 5000, f"the lock's key has a time to live of {ttl} ms; it should expire after "
                                f"ttl_ms (5000): SET ... PX ttl_ms, so a crashed owner cannot hold it for ever")
        token_a = await a_conn.get("lock:book-7")
        expect(await _awaited("release", second.release()) is False,
               "`release()` by a RedisLock that does not hold the lock did not return False: compare the key's "
               "token with this lock's own before deleting, and leave someone else's lock alone")
        expect(await a_conn.exists("lock:book-7"),
               "`release()` by a RedisLock that does not hold the lock deleted it: compare the token first")
        expect(await _awaited("release", first.release()) is True, "`release()` by the owner should return True")
        expect(not await a_conn.exists("lock:book-7"), "after the owner's `release()` the key is still there")
        expect(await second.acquire() is True, "a released lock could not be taken again")
        token_b = await a_conn.get("lock:book-7")
        expect(token_a != token_b, f"two owners stored the same value ({token_a!r}): store a random token "
                                   f"(secrets.token_hex), so that each owner can tell its lock from another's")
        await second.release()

        # an owner that was too slow: its lock expired and someone else holds it now
        slow, fast = lock_class(a_conn, "book-8", 100), lock_class(b_conn, "book-8", 5000)
        await slow.acquire()
        await asyncio.sleep(0.3)
        expect(await fast.acquire() is True, "a lock whose time to live had run out could not be taken")
        released = await _awaited("release", slow.release())
        expect(await a_conn.exists("lock:book-8") and released is False,
               "an owner whose lock had expired released the *new* owner's lock: delete only if the key "
               "still holds your token, in one step on the server (a Lua script: GET, compare, DEL)")
        await fast.release()

        # many contenders at once, on their own connections
        contenders = [lock_class(clients[i % 2], "book-9", 5000) for i in range(30)]
        won = await _awaited("acquire", asyncio.gather(*(c.acquire() for c in contenders)))
        expect(sum(1 for w in won if w is True) == 1,
               f"30 contenders asked for a free lock at once and {sum(1 for w in won if w)} got it: checking "
               f"then setting are two commands; SET NX does both at once")

        if _in_package(lock_class):
            await a_conn.set("stock:9", 10)
            async with served_by_workers("10.redis_lock", "RedisLock",
                                         {"BOOKSHELF_REDIS_URL": server.url}) as client:
                answers = await asyncio.gather(*(client.post("/stock/9/reserve", params={"lock": "redis"})
                                                 for _ in range(40)))
            expect(all(r.status_code == 200 for r in answers),
                   f"POST /stock/9/reserve answered {sorted({r.status_code for r in answers})} under two workers")
            reserved = sum(1 for r in answers if r.json()["reserved"])
            left = int(await a_conn.get("stock:9"))
            expect(reserved == 10 and left == 0,
                   f"under `uvicorn --workers 2`, 40 reservations of 10 copies with your lock: {reserved} "
                   f"succeeded and {left} copies are left")
    finally:
        for client in clients:
            await client.aclose()
        await asyncio.to_thread(server.stop)


# -- 10.add_to_shelf ------------------------------------------------------------------------------

@exercise("10.add_to_shelf", target="add_to_shelf", points=3, timeout=120)
async def check_add_to_shelf(add_to_shelf: Callable[..., Awaitable[bool]]) -> None:
    """Concurrent adds with duplicates: one row and one count per book; a failed count leaves no row."""
    import asyncpg

    from ..standins.lesson10 import SCHEMA_SQL

    _need("postgres", add_to_shelf)
    server = await asyncio.to_thread(services.postgres, "check-10.add_to_shelf")
    pool = await asyncpg.create_pool(server.url, min_size=1, max_size=10)
    try:
        await pool.execute(SCHEMA_SQL)
        calls = [(f"reader{u}", book) for u in range(3) for book in range(1, 21) for _ in range(2)]  # twice, together
        results = await _awaited("add_to_shelf", asyncio.gather(*(add_to_shelf(pool, u, b) for u, b in calls)),
                                 patience=30)
        not_bool = [r for r in results if not isinstance(r, bool)]
        expect(not not_bool, f"add_to_shelf returned {not_bool[:1]!r}; return True (added) or False (already there)")
        won = Counter(pair for pair, added in zip(calls, results) if added)
        expect(all(won[pair] == 1 for pair in set(calls)),
               f"each (user, book) was added twice, concurrently: True should come back exactly once per pair, "
               f"but {sum(1 for p in set(calls) if won[p] != 1)} pair(s) got it 0 or 2 times "
               f"(INSERT ... ON CONFLICT DO NOTHING, then look at what the INSERT reports)")
        rows = await pool.fetchval("SELECT count(*) FROM shelf")
        counts = dict(await pool.fetch("SELECT user_name, books FROM shelf_counts"))
        expect(rows == 60, f"60 different (user, book) pairs were added; the shelf table has {rows} rows")
        expect(counts == {f"reader{u}": 20 for u in range(3)},
               f"each reader added 20 different books; shelf_counts says {counts}: add 1 to the user's count "
               f"(an upsert: INSERT ... ON CONFLICT (user_name) DO UPDATE SET books = shelf_counts.books + 1) "
               f"only when the book was really added")

        # the count cannot go above 5 for this user: the second write fails, so the first must be undone
        await pool.execute("ALTER TABLE shelf_counts ADD CONSTRAINT at_most_five "
                           "CHECK (user_name <> 'full' OR books <= 5)")
        await pool.execute("INSERT INTO shelf_counts VALUES ('full', 5)")
        with contextlib.suppress(asyncpg.PostgresError):
            await _awaited("add_to_shelf", add_to_shelf(pool, "full", 99))
        kept = await pool.fetchval("SELECT count(*) FROM shelf WHERE user_name = 'full'")
        expect(kept == 0, "when updating the count failed, the book stayed on the shelf: the row and the count "
                          "must change together or not at all (`async with conn.transaction():` around both)")
        expect(pool.get_size() - pool.get_idle_size() == 0,
               "a connection was not given back to the pool: use `async with pool.acquire() as conn:`")

        if _in_package(add_to_shelf):
            await pool.execute("ALTER TABLE shelf_counts DROP CONSTRAINT at_most_five")
            async with served_by_workers("10.add_to_shelf", "add_to_shelf",
                                         {"BOOKSHELF_DATABASE_URL": server.url,
                                          "BOOKSHELF_POOL_SIZE": "4"}) as client:
                answers = await asyncio.gather(*(client.post(f"/shelf/http/{book}") for book in range(200)))
            expect(all(r.status_code == 200 for r in answers),
                   f"POST /shelf answered {sorted({r.status_code for r in answers})} under two workers")
            rows = await pool.fetchval("SELECT count(*) FROM shelf WHERE user_name = 'http'")
            count = await pool.fetchval("SELECT books FROM shelf_counts WHERE user_name = 'http'")
            expect(rows == 200 and count == 200,
                   f"under `uvicorn --workers 2`, 200 concurrent shelf writes ended as {rows} rows and a count "
                   f"of {count}; both should be 200")
    finally:
        await pool.close()
        await asyncio.to_thread(server.stop)
