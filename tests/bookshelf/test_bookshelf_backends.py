"""The PostgreSQL and Redis backends one piece at a time: configuration, the startup log, the parts, the lock,
a queue that survives a restart and a crash, exactly-once accounting, the cache's TTL, lesson 09's SQL."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from bookshelf import Behaviour, Settings, create_app
from bookshelf.app import describe_backends
from bookshelf.db import add_to_shelf as sqlite_add_to_shelf
from bookshelf.models import Status

pytestmark = pytest.mark.anyio
SLOW = Behaviour(latency=0.3, jitter=0.0)


@pytest.fixture
def fresh(servers) -> dict[str, str]:
    """Settings for the session's PostgreSQL (emptied) and Redis (under a new key prefix)."""
    servers.reset()
    return {"database_url": servers.database_url, "redis_url": servers.redis.url,
            "redis_prefix": f"test-{uuid.uuid4().hex[:12]}:"}


def test_the_two_urls_come_from_the_environment_and_bad_ones_are_refused():
    env = {"BOOKSHELF_DATABASE_URL": "postgresql://app:secret@db:5432/shelf", "BOOKSHELF_REDIS_URL": "redis://r:6379/1",
           "BOOKSHELF_DB_POOL_SIZE": "7", "BOOKSHELF_REDIS_PREFIX": "a:", "BOOKSHELF_RECLAIM_AFTER": "2.5"}
    settings = Settings.from_env(env)
    assert (settings.database_url, settings.redis_url, settings.db_pool_size, settings.redis_prefix,
            settings.reclaim_after) == (env["BOOKSHELF_DATABASE_URL"], "redis://r:6379/1", 7, "a:", 2.5)
    assert Settings.from_env({}).database_url is None and Settings.from_env({}).redis_url is None
    described = describe_backends(settings)
    assert "PostgreSQL postgresql://app:***@db:5432/shelf" in described and "secret" not in described
    assert "Redis redis://r:6379/1" in described
    assert describe_backends(Settings.ephemeral()) == "database SQLite :memory:; shared state in this process"
    with pytest.raises(ValueError, match="postgresql://"):
        Settings.from_env({"BOOKSHELF_DATABASE_URL": "sqlite:///x.db"})
    with pytest.raises(ValueError, match="redis://"):
        Settings.from_env({"BOOKSHELF_REDIS_URL": "http://r"})


def test_postgres_brings_its_own_database_parts_unless_some_are_given():
    from bookshelf import pg

    app = create_app(Settings.ephemeral(database_url="postgresql://x@127.0.0.1:1/x"))
    assert app.state.parts["add_to_shelf"] is pg.add_to_shelf and app.state.parts["search_titles"] is pg.search_titles
    mine = create_app(Settings.ephemeral(database_url="postgresql://x@127.0.0.1:1/x"),
                      parts={"add_to_shelf": sqlite_add_to_shelf})
    assert mine.state.parts["add_to_shelf"] is sqlite_add_to_shelf
    assert create_app(Settings.ephemeral()).state.parts["add_to_shelf"] is sqlite_add_to_shelf


def test_sqlite_style_parameters_become_numbered_ones_outside_quotes():
    from bookshelf.pg import _dollars

    assert _dollars("SELECT a FROM t WHERE b = ? AND c = '?' AND d IN (?, ?) LIMIT ?") == \
        "SELECT a FROM t WHERE b = $1 AND c = '?' AND d IN ($2, $3) LIMIT $4"


async def test_the_startup_log_names_both_backends(servers, fresh, app_client, capture_logs):
    records = capture_logs("uvicorn.error")
    settings = Settings.ephemeral(**fresh)
    async with app_client(settings) as (app, client):
        assert (await client.get("/shelf")).status_code == 200
    lines = [r.getMessage() for r in records.records]
    assert lines[-1] == f"Bookshelf backends: database PostgreSQL {servers.database_url}; shared state Redis " \
                        f"{servers.redis.url} (key prefix {settings.redis_prefix!r})", lines


async def test_the_lock_is_exclusive_and_never_releases_someone_elses(servers):
    from bookshelf.shared_state import RedisLock, connect

    redis = await connect(servers.redis.url)
    try:
        first, second = RedisLock(redis, "lock-test", ttl=0.2), RedisLock(redis, "lock-test", ttl=5)
        assert await first.acquire() and not await second.acquire()
        await asyncio.sleep(0.3)  # first's ttl ran out: the lock is free, and second takes it
        assert await second.acquire()
        assert not await first.release()  # not ours any more: second's lock stays
        assert await redis.get("lock-test") == second.token
        assert await second.release() and await redis.get("lock-test") is None
    finally:
        await redis.aclose()


async def test_queued_jobs_survive_a_restart_and_count_each_book_once(fresh, app_client):
    settings = Settings.ephemeral(workers=1, **fresh).with_behaviour(ratings=SLOW)
    async with app_client(settings) as (app, client):
        job = (await client.post("/jobs/refresh-ratings", json={"book_ids": [1, 2, 3, 4, 5, 6]})).json()
        await app.state.refresher.close(drain=0.05)  # stops with most of the job still queued in Redis
        left = (await client.get(f"/jobs/{job['id']}")).json()
        assert left["state"] != "finished" and await app.state.refresher.queued() > 0, left
    urls = {"database_url": app.state.settings.database_url, "redis_url": app.state.settings.redis_url,
            "redis_prefix": app.state.settings.redis_prefix}
    async with app_client(Settings.ephemeral(workers=3, reclaim_after=0.2, **urls)) as (app, client):
        for _ in range(300):
            state = (await client.get(f"/jobs/{job['id']}")).json()
            if state["state"] == "finished":
                break
            await asyncio.sleep(0.02)
        # the one book the first worker had in hand when it was cancelled was handled again, and counted once
        assert state == {**job, "state": "finished", "done": 6}, state
        assert sorted(await app.state.refresher.cached_ids()) == [1, 2, 3, 4, 5, 6]
        ttl = await app.state.redis.pttl(app.state.refresher.key("rating", 1))
        assert 0 < ttl <= app.state.settings.rating_ttl * 1000


async def test_an_entry_a_dead_consumer_took_is_reclaimed(fresh, app_client):
    async with app_client(Settings.ephemeral(workers=1, reclaim_after=0.3, **fresh)) as (app, client):
        refresher = app.state.refresher
        await refresher.stop(drain=0)  # our workers pause, so that the "dead" consumer gets the entry
        job = (await client.post("/jobs/refresh-ratings", json={"book_ids": [7]})).json()
        taken = await app.state.redis.xreadgroup("refreshers", "dead-process", {refresher.stream: ">"}, count=1)
        assert len(taken[0][1]) == 1  # taken, never acknowledged: the consumer "died"
        refresher.start()
        for _ in range(200):
            if (await client.get(f"/jobs/{job['id']}")).json()["state"] == "finished":
                break
            await asyncio.sleep(0.02)
        assert (await client.get(f"/jobs/{job['id']}")).json()["done"] == 1
        assert await refresher.queued() == 0


async def test_recommendations_sql_runs_on_both(backend, app_client):
    from bookshelf.recommendations import CANDIDATES_SQL

    async with app_client() as (app, client):
        for book_id in (1, 2):
            await app.state.shelf.add(book_id, Status.read, "")
        async with app.state.db.conn.execute(CANDIDATES_SQL, (5,)) as cursor:
            rows = [dict(row) for row in await cursor.fetchall()]
    assert len(rows) == 5 and all(row["id"] not in (1, 2) for row in rows)
    assert [row["shared"] for row in rows] == sorted((row["shared"] for row in rows), reverse=True)


async def test_stopping_the_redis_workers_never_hangs(servers):
    """A cancellation can land inside a Redis command, which redis-py may absorb (it reconnects and answers):
    the worker must still end. Before the fix about one stop in thirty hung here."""
    import random

    from bookshelf.jobs import RatingsRefresher
    from bookshelf.shared_state import RedisRefresher, connect

    redis = await connect(servers.redis.url)
    try:
        hung = 0
        for i in range(40):
            refresher = RedisRefresher(redis, None, 4, prefix=f"stop-{uuid.uuid4().hex[:8]}:")  # type: ignore[arg-type]
            await refresher.prepare()
            refresher.start()
            await asyncio.sleep(random.random() * 0.25)  # anywhere in the loop: a read, a claim, between them
            try:
                await asyncio.wait_for(RatingsRefresher.stop(refresher, drain=0), 3)  # type: ignore[arg-type]
            except TimeoutError:
                hung += 1
        assert hung == 0, f"{hung} of 40 stops hung"
    finally:
        await redis.aclose()
