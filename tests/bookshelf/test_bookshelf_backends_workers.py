"""``uvicorn bookshelf.main:app --workers 4`` on PostgreSQL and Redis (real processes): what several processes
must never get wrong.

* 200 concurrent shelf writes end as exactly 200 rows;
* N concurrent increments (new job ids: ``INCR`` in Redis) from several workers end at exactly N, no id twice;
* a worker killed with SIGKILL in the middle of a burst loses no acknowledged write (201) and no queued job
  (202): the entries it had taken are handed to the other workers once they have been idle ``RECLAIM_AFTER``.

One deployment serves the module (starting four workers is the slow part), on a database and a Redis key
prefix of its own; the tests use disjoint book ids. The module runs on one xdist worker and starts early.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
import psutil
import pytest

WORKERS = 4
POOL = 5  # PostgreSQL connections per worker process: WORKERS x POOL = 20, well under the server's 100
RECLAIM_AFTER = 1.0  # seconds before entries a dead worker had taken go to another
LATENCY = 0.5  # seconds per simulated ratings call: the queue is still busy when the worker dies
ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


class Deployment:
    def __init__(self, server, database_url: str, redis_url: str, prefix: str) -> None:
        self.server, self.database_url, self.redis_url, self.prefix = server, database_url, redis_url, prefix

    @property
    def url(self) -> str:
        return self.server.url

    def workers(self) -> list[int]:
        """The pids of uvicorn's worker processes (children of its supervisor that run the app)."""
        found = []
        for child in psutil.Process(self.server.pid).children():
            try:
                if any("spawn_main" in part for part in child.cmdline()):
                    found.append(child.pid)
            except psutil.NoSuchProcess:
                pass
        return found

    def started(self) -> int:
        return self.server.log(last=10_000).count("Application startup complete.")

    async def redis(self):
        import redis.asyncio as aioredis
        return aioredis.Redis.from_url(self.redis_url, decode_responses=True)

    async def shelf_ids(self, first: int, last: int) -> list[int]:
        """Book ids on the shelf between ``first`` and ``last``, read from PostgreSQL itself (not through the app)."""
        import asyncpg
        conn = await asyncpg.connect(self.database_url)
        try:
            rows = await conn.fetch("SELECT book_id FROM shelf WHERE book_id BETWEEN $1 AND $2 ORDER BY book_id",
                                    first, last)
        finally:
            await conn.close()
        return [row["book_id"] for row in rows]


def wait_for(condition, timeout: float, what: str, server) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert server.running, f"uvicorn exited:\n{server.log()}"
        assert time.monotonic() < deadline, f"{what} within {timeout:g} s:\n{server.log(last=40)}"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def deployment(servers, tmp_path_factory):
    from labkit import outside

    database_url = servers.create_database(f"workers_{os.getpid()}")
    prefix = f"workers-{uuid.uuid4().hex[:8]}:"
    env = {"BOOKSHELF_DATABASE_URL": database_url, "BOOKSHELF_REDIS_URL": servers.redis.url,
           "BOOKSHELF_REDIS_PREFIX": prefix, "BOOKSHELF_DB_POOL_SIZE": str(POOL),
           "BOOKSHELF_RECLAIM_AFTER": str(RECLAIM_AFTER), "BOOKSHELF_LATENCY": str(LATENCY),
           "BOOKSHELF_SIMULATE": "inprocess", "BOOKSHELF_DB": str(tmp_path_factory.mktemp("unused") / "x.db"),
           "PYTHONPATH": str(ROOT)}
    server = outside.uvicorn("bookshelf.main:app", name=f"bookshelf-workers-{os.getpid()}", workers=WORKERS,
                             cwd=ROOT, env=env, timeout=60)
    try:
        wait_for(lambda: server.log(last=10_000).count("Application startup complete.") >= WORKERS, 90,
                 f"{WORKERS} workers did not start", server)
        log = server.log(last=10_000)
        assert log.count("Bookshelf backends: database PostgreSQL") == WORKERS, log  # the startup log says so
        assert log.count(f"shared state Redis {servers.redis.url}") == WORKERS, log
        yield Deployment(server, database_url, servers.redis.url, prefix)
    finally:
        server.stop()


def new_client(url: str) -> httpx.AsyncClient:
    # no keep-alive: every request opens a new connection, so the kernel spreads them over the workers
    limits = httpx.Limits(max_connections=50, max_keepalive_connections=0)
    return httpx.AsyncClient(base_url=url, limits=limits, timeout=30)


async def test_200_concurrent_shelf_writes_end_as_exactly_200_rows(deployment):
    async with new_client(deployment.url) as client:
        responses = await asyncio.gather(*(client.post("/shelf", json={"book_id": i, "note": f"n{i}"})
                                           for i in range(1, 201)))
        listed = {e["book_id"] for e in (await client.get("/shelf")).json()}
    refused = [r.text for r in responses if r.status_code != 201]
    assert Counter(r.status_code for r in responses) == {201: 200}, refused[:3]
    assert await deployment.shelf_ids(1, 200) == list(range(1, 201))
    assert set(range(1, 201)) <= listed


async def test_concurrent_increments_from_every_worker_end_at_exactly_n_with_no_duplicate(deployment):
    n = 200
    redis = await deployment.redis()
    try:
        before = int(await redis.get(deployment.prefix + "jobs:next") or 0)
        async with new_client(deployment.url) as client:
            # an empty job: a new id (the increment) and nothing queued, so no work is left for the next test
            responses = await asyncio.gather(*(client.post("/jobs/refresh-ratings", json={"book_ids": []})
                                               for _ in range(n)))
        assert Counter(r.status_code for r in responses) == {202: n}, [r.text for r in responses][:3]
        ids = [r.json()["id"] for r in responses]
        after = int(await redis.get(deployment.prefix + "jobs:next"))
        creators = Counter([(await redis.hget(f"{deployment.prefix}job:{i}", "by")).split(":")[1] for i in ids])
    finally:
        await redis.aclose()
    assert len(set(ids)) == n, [i for i, c in Counter(ids).items() if c > 1]
    assert sorted(ids) == list(range(before + 1, before + n + 1)) and after == before + n
    assert len(creators) >= 2, f"every id came from one process: {creators}"  # the increments raced across processes


async def test_a_worker_killed_mid_burst_loses_no_acknowledged_write_and_no_queued_job(deployment):
    writes, jobs = range(201, 501), [list(range(1 + 10 * j, 11 + 10 * j)) for j in range(20)]
    acknowledged_writes: list[int] = []
    acknowledged_jobs: list[dict] = []
    answered: Counter[int] = Counter()
    redis = await deployment.redis()
    victim = None
    held_by_victim = writes_before_kill = 0

    async def call(method: str, path: str, body: dict) -> httpx.Response | None:
        try:
            response = await client.request(method, path, json=body)
        except httpx.TransportError:  # the worker died with our request: never acknowledged
            return None
        answered[response.status_code] += 1
        return response

    async def write(book_id: int) -> None:
        response = await call("POST", "/shelf", {"book_id": book_id})
        if response is not None and response.status_code == 201:
            acknowledged_writes.append(book_id)

    async def submit(book_ids: list[int]) -> None:
        response = await call("POST", "/jobs/refresh-ratings", {"book_ids": book_ids})
        if response is not None and response.status_code == 202:
            acknowledged_jobs.append(response.json())

    async def pending_of(pid: int) -> int:
        summary = await redis.xpending(deployment.prefix + "ratings:queue", "refreshers")
        return sum(int(c["pending"]) for c in summary["consumers"] or [] if f":{pid}:" in c["name"])

    async def kill_one_worker() -> None:
        """SIGKILL a worker while writes are being answered and it holds queued entries it has not finished."""
        nonlocal victim, held_by_victim, writes_before_kill
        queue = deployment.prefix + "ratings:queue"
        deadline = time.monotonic() + 20
        while victim is None:
            assert time.monotonic() < deadline, ("the burst never reached the moment to kill a worker",
                                                 len(acknowledged_writes), await redis.xlen(queue))
            if len(acknowledged_writes) >= 10 and await redis.xlen(queue) >= 20:
                held = {pid: await pending_of(pid) for pid in deployment.workers()}
                pid, most = max(held.items(), key=lambda kv: kv[1], default=(None, 0))
                if most >= 2:
                    os.kill(pid, signal.SIGKILL)
                    victim, writes_before_kill = pid, len(acknowledged_writes)
            await asyncio.sleep(0.01)
        held_by_victim = await pending_of(victim)

    try:
        async with new_client(deployment.url) as client:
            burst = [write(book_id) for book_id in writes]
            for k, job in enumerate(jobs):  # the jobs go out among the first hundred writes
                burst.insert(6 * k, submit(job))
            await asyncio.gather(kill_one_worker(), *burst)
            assert held_by_victim > 0  # entries the killed worker had taken and never acknowledged
            assert len(acknowledged_writes) > writes_before_kill  # the burst went on after the kill
            # every acknowledged job finishes: the other workers take over what the dead one held
            deadline = time.monotonic() + 60
            unfinished = acknowledged_jobs
            while unfinished and time.monotonic() < deadline:
                states = await asyncio.gather(*(client.get(f"/jobs/{job['id']}") for job in unfinished))
                unfinished = [s.json() for s in states if s.json()["state"] != "finished"]
                await asyncio.sleep(0.2)
        assert not unfinished, f"{len(unfinished)} acknowledged job(s) never finished, e.g. {unfinished[:2]}"
        assert await redis.xlen(deployment.prefix + "ratings:queue") == 0
    finally:
        await redis.aclose()
    assert set(answered) <= {201, 202}, answered  # some requests died with the worker; none answered 5xx
    stored = set(await deployment.shelf_ids(201, 500))
    assert set(acknowledged_writes) <= stored, sorted(set(acknowledged_writes) - stored)
    assert len(acknowledged_writes) >= 250 and len(acknowledged_jobs) >= 15, (len(acknowledged_writes),
                                                                              len(acknowledged_jobs))
    # uvicorn replaced the killed worker
    wait_for(lambda: len(deployment.workers()) == WORKERS and victim not in deployment.workers(), 30,
             "the killed worker was not replaced", deployment.server)
