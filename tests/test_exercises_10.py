"""Lesson 10's checks pass correct answers and reject the typical wrong ones (real Redis and PostgreSQL servers).

The answers here are not in a ``myshelf`` package, so the checks' HTTP part (uvicorn --workers 2) is left out;
the notebook tests and the grading suite run it on the lesson's own cells.
"""

from __future__ import annotations

import itertools
import secrets

import pytest

from labkit import services
from labkit.checks import run_check

needs_redis = pytest.mark.skipif(not services.available()["redis"],
                                 reason="redis-server is not installed (Debian/Ubuntu: apt-get install redis-server)")
needs_postgres = pytest.mark.skipif(not services.available()["postgres"],
                                    reason="PostgreSQL is not installed (Debian/Ubuntu: apt-get install postgresql)")

# -- 10.next_job_id --------------------------------------------------------------------------------


async def incr(redis):
    return await redis.incr("jobs:last_id")


async def read_then_write(redis):
    last = int(await redis.get("jobs:last_id") or 0)
    await redis.set("jobs:last_id", last + 1)
    return last + 1


_local = itertools.count(1)


async def in_this_process(redis):
    return next(_local)


@needs_redis
def test_next_job_id_accepts_incr_and_rejects_a_read_then_write_or_a_local_counter():
    before = set(map(id, services.running()))  # other tests in this process may hold servers of their own
    assert run_check("10.next_job_id", {"next_job_id": incr}).passed
    result = run_check("10.next_job_id", {"next_job_id": read_then_write})
    assert result.status == "failed" and "INCR" in result.message, result
    result = run_check("10.next_job_id", {"next_job_id": in_this_process})
    assert result.status == "failed" and "not 1" in result.message, result
    assert [s for s in services.running() if id(s) not in before] == [], "the checks left a server running"


# -- 10.redis_lock ---------------------------------------------------------------------------------

RELEASE = 'if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0'


class GoodLock:
    def __init__(self, redis, name, ttl_ms=2000):
        self.redis, self.key, self.ttl_ms, self.token = redis, f"lock:{name}", ttl_ms, None

    async def acquire(self):
        token = secrets.token_hex(16)
        if await self.redis.set(self.key, token, nx=True, px=self.ttl_ms):
            self.token = token
            return True
        return False

    async def release(self):
        return self.token is not None and await self.redis.eval(RELEASE, 1, self.key, self.token) == 1


class NoExpiry(GoodLock):
    async def acquire(self):
        token = secrets.token_hex(16)
        if await self.redis.set(self.key, token, nx=True):
            self.token = token
            return True
        return False


class CheckThenSet(GoodLock):
    async def acquire(self):
        if await self.redis.exists(self.key):
            return False
        self.token = secrets.token_hex(16)
        await self.redis.set(self.key, self.token, px=self.ttl_ms)
        return True


class DeletesBlindly(GoodLock):
    async def release(self):
        return await self.redis.delete(self.key) == 1


class SameTokenForAll(GoodLock):
    async def acquire(self):
        if await self.redis.set(self.key, "locked", nx=True, px=self.ttl_ms):
            self.token = "locked"
            return True
        return False


@needs_redis
def test_redis_lock_accepts_set_nx_px_with_a_lua_release():
    assert run_check("10.redis_lock", {"RedisLock": GoodLock}).passed


@needs_redis
@pytest.mark.parametrize(("wrong", "says"), [
    (NoExpiry, "time to live"), (CheckThenSet, "NX"), (DeletesBlindly, "token"), (SameTokenForAll, "same value")])
def test_redis_lock_rejects_the_usual_mistakes(wrong, says):
    result = run_check("10.redis_lock", {"RedisLock": wrong})
    assert result.status == "failed" and says in result.message, result


# -- 10.add_to_shelf -------------------------------------------------------------------------------

COUNT = ("INSERT INTO shelf_counts (user_name, books) VALUES ($1, 1) "
         "ON CONFLICT (user_name) DO UPDATE SET books = shelf_counts.books + 1")


async def in_one_transaction(pool, user, book_id):
    async with pool.acquire() as conn, conn.transaction():
        added = await conn.fetchval("INSERT INTO shelf (user_name, book_id) VALUES ($1, $2) "
                                    "ON CONFLICT DO NOTHING RETURNING book_id", user, book_id)
        if added is None:
            return False
        await conn.execute(COUNT, user)
        return True


async def without_transaction(pool, user, book_id):
    async with pool.acquire() as conn:
        added = await conn.fetchval("INSERT INTO shelf (user_name, book_id) VALUES ($1, $2) "
                                    "ON CONFLICT DO NOTHING RETURNING book_id", user, book_id)
        if added is None:
            return False
        await conn.execute(COUNT, user)
        return True


async def counts_every_call(pool, user, book_id):
    async with pool.acquire() as conn, conn.transaction():
        added = await conn.fetchval("INSERT INTO shelf (user_name, book_id) VALUES ($1, $2) "
                                    "ON CONFLICT DO NOTHING RETURNING book_id", user, book_id)
        await conn.execute(COUNT, user)
        return added is not None


async def check_then_insert(pool, user, book_id):
    async with pool.acquire() as conn:
        if await conn.fetchval("SELECT 1 FROM shelf WHERE user_name = $1 AND book_id = $2", user, book_id):
            return False
        async with conn.transaction():
            await conn.execute("INSERT INTO shelf (user_name, book_id) VALUES ($1, $2)", user, book_id)
            await conn.execute(COUNT, user)
        return True


@needs_postgres
def test_add_to_shelf_accepts_one_transaction_with_on_conflict():
    assert run_check("10.add_to_shelf", {"add_to_shelf": in_one_transaction}).passed


@needs_postgres
@pytest.mark.parametrize(("wrong", "says"), [
    (without_transaction, "transaction"), (counts_every_call, "shelf_counts says"), (check_then_insert, "")])
def test_add_to_shelf_rejects_the_usual_mistakes(wrong, says):
    result = run_check("10.add_to_shelf", {"add_to_shelf": wrong})
    assert result.status in ("failed", "error") and says in result.message, result


def test_a_stub_is_not_attempted_and_a_missing_server_names_the_install(monkeypatch):
    async def next_job_id(redis):
        raise NotImplementedError()

    monkeypatch.setattr(services, "_redis_binary", lambda: None)
    assert run_check("10.next_job_id", {"next_job_id": next_job_id}).status == "not attempted"
    result = run_check("10.next_job_id", {"next_job_id": incr})
    assert result.status == "failed" and "apt-get install -y redis-server" in result.message
