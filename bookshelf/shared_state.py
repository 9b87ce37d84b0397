"""Shared state in Redis (redis-py's asyncio client): chosen by ``BOOKSHELF_REDIS_URL=redis://...``.

With ``uvicorn --workers N`` every process has its own memory, so the in-process refresher of
:mod:`bookshelf.jobs` would give each process its own job ids, queue and cache. Here they live in Redis,
shared by every process, under the key prefix ``Settings.redis_prefix``:

* **job ids** come from ``INCR {prefix}jobs:next``: atomic, so two processes never hand out the same id;
* **the queue** is a stream (``{prefix}ratings:queue``) read by a consumer group: a worker task takes an entry
  with ``XREADGROUP`` and acknowledges it (``XACK``, then ``XDEL``) only once it is handled. An entry that a
  process took and never acknowledged (the process was killed) stays pending; after ``reclaim_after``
  seconds any live worker takes it over with ``XAUTOCLAIM``. Queued work survives restarts and crashes;
* **exactly-once accounting** on top of at-least-once delivery: a job counts a book as done or failed
  only the first time (``HSETNX`` on the job's ``handled`` hash, in the same Lua script as the ``XACK``);
* **the rating cache** is one key per book with a TTL (``SET ... PX``), capped at ``max_cached`` books;
* **a lock** (:class:`RedisLock`): ``SET key token NX PX ttl`` takes it, a Lua script releases it only if the
  token is still ours (a lock that expired and was taken by another process is never released by us).
  Pruning old jobs runs under it, one process at a time.

The methods the routes call (``enqueue``, ``job``, ``cached_rating``) are the same as the in-process
refresher's, and so is ``stop(self, drain)`` (a replaceable part): it waits up to ``drain`` seconds for the
queue to empty, then cancels the worker tasks; entries they held stay in Redis for the other processes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections.abc import Iterable
from types import TracebackType
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from .fanout import UpstreamError, Upstreams
from .jobs import QueueFull
from .models import Rating

__all__ = ["RedisLock", "RedisRefresher", "connect", "redact"]

log = logging.getLogger("bookshelf.jobs")

GROUP = "refreshers"


def redact(url: str) -> str:
    """The URL without its password, for logs."""
    head, sep, tail = url.partition("@")
    return f"{head.split('//')[0]}//***@{tail}" if sep else url


async def connect(url: str) -> aioredis.Redis:
    """A client for ``url`` (strings in, strings out) that has answered a PING."""
    client = aioredis.Redis.from_url(url, decode_responses=True, health_check_interval=30)
    try:
        await client.ping()
    except BaseException:
        await client.aclose()
        raise
    return client


_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisLock:
    """A lock shared by every process: ``async with RedisLock(r, "name", ttl=5.0) as held: if held: ...``.

    ``SET key token NX PX ttl`` takes it only if nobody holds it, for at most ``ttl`` seconds (a holder that dies
    cannot keep it forever). Release deletes the key only if it still holds our token: after our ttl ran out,
    another process may hold the lock, and a plain ``DEL`` would release theirs.
    """

    def __init__(self, redis: aioredis.Redis, key: str, *, ttl: float = 5.0) -> None:
        self.redis, self.key, self.ttl = redis, key, ttl
        self.token: str | None = None

    async def acquire(self) -> bool:
        """Take the lock if it is free; ``True`` if we hold it now."""
        token = secrets.token_hex(16)
        if await self.redis.set(self.key, token, nx=True, px=int(self.ttl * 1000)):
            self.token = token
            return True
        return False

    async def release(self) -> bool:
        """Release the lock if it is still ours; ``False`` if it had expired (and may be someone else's now)."""
        token, self.token = self.token, None
        if token is None:
            return False
        return bool(await self.redis.eval(_RELEASE, 1, self.key, token))

    async def __aenter__(self) -> bool:
        return await self.acquire()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await asyncio.shield(self.release())


# KEYS: queue stream, job id counter, job index; ARGV: max queued, key prefix, submitting process, book ids...
_SUBMIT = """
local books = #ARGV - 3
local room = tonumber(ARGV[1]) - redis.call('XLEN', KEYS[1])
if books > room then return {0, room} end
local id = redis.call('INCR', KEYS[2])
local job = ARGV[2] .. 'job:' .. id
redis.call('HSET', job, 'total', books, 'done', 0, 'failed', 0, 'by', ARGV[3])
redis.call('ZADD', KEYS[3], id, id)
for i = 4, #ARGV do redis.call('XADD', KEYS[1], '*', 'job', id, 'book', ARGV[i]) end
return {id, room}
"""

# KEYS: queue stream, job hash, job's handled hash, job's errors hash, rating key, rating index, rating counter
# ARGV: group, entry id, book id, outcome (done|failed), error text, rating JSON or '', ttl ms, max cached, prefix
_FINISH = """
if redis.call('EXISTS', KEYS[2]) == 1 and redis.call('HSETNX', KEYS[3], ARGV[3], ARGV[4]) == 1 then
  redis.call('HINCRBY', KEYS[2], ARGV[4], 1)
  if ARGV[4] == 'failed' then redis.call('HSET', KEYS[4], ARGV[3], ARGV[5]) end
end
if ARGV[6] ~= '' then
  redis.call('SET', KEYS[5], ARGV[6], 'PX', ARGV[7])
  redis.call('ZADD', KEYS[6], redis.call('INCR', KEYS[7]), ARGV[3])
  local excess = redis.call('ZCARD', KEYS[6]) - tonumber(ARGV[8])
  if excess > 0 then
    for _, book in ipairs(redis.call('ZRANGE', KEYS[6], 0, excess - 1)) do
      redis.call('DEL', ARGV[9] .. 'rating:' .. book)
    end
    redis.call('ZREMRANGEBYRANK', KEYS[6], 0, excess - 1)
  end
end
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
return 1
"""


def job_state(total: int, done: int, failed: int) -> str:
    """``queued`` before any book is handled, ``finished`` once all are (as :class:`bookshelf.jobs.Job`)."""
    handled = done + failed
    return "queued" if handled == 0 and total else "finished" if handled == total else "running"


def _raise_if_cancelling() -> None:
    """Re-raise the cancellation that this task was asked for, if any (a library may have turned it into an error)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class _SharedQueue:
    """The refresher's ``queue`` as ``stop`` sees it: ``join()`` returns once Redis holds no entry and this
    process has nothing in hand."""

    def __init__(self, refresher: "RedisRefresher") -> None:
        self._refresher = refresher

    async def join(self) -> None:
        # shielded: a stop that gives up waiting cancels this loop, never a Redis command halfway through
        while self._refresher.in_hand or await asyncio.shield(self._refresher.queued()):
            await asyncio.sleep(0.02)

    def qsize(self) -> int:
        return self._refresher.in_hand


class RedisRefresher:
    """The ratings refresher of :mod:`bookshelf.jobs` with its job ids, queue and cache in Redis."""

    def __init__(self, redis: aioredis.Redis, upstreams: Upstreams, workers: int = 4, *, prefix: str = "bookshelf:",
                 max_queued: int = 10_000, max_jobs: int = 1_000, max_cached: int = 10_000,
                 ttl: float = 3600.0, reclaim_after: float = 5.0) -> None:
        self.redis = redis
        self.upstreams = upstreams
        self.workers = workers
        self.prefix = prefix
        self.max_queued, self.max_jobs, self.max_cached = max_queued, max_jobs, max_cached
        self.ttl, self.reclaim_after = ttl, reclaim_after
        self.stream = f"{prefix}ratings:queue"
        self.queue = _SharedQueue(self)
        self.in_hand = 0  # entries this process has taken and not yet acknowledged
        self.name = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self._tasks: list[asyncio.Task[None]] = []
        self._submit = redis.register_script(_SUBMIT)
        self._finish = redis.register_script(_FINISH)

    def key(self, *parts: object) -> str:
        return self.prefix + ":".join(map(str, parts))

    async def prepare(self) -> None:
        """Create the stream and its consumer group if they do not exist yet (every process may try)."""
        try:
            await self.redis.xgroup_create(self.stream, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def start(self) -> None:
        """Start the worker tasks on the running loop (after :meth:`prepare`)."""
        self._tasks = [asyncio.get_running_loop().create_task(self._work(f"{self.name}:{i}"),
                                                              name=f"bookshelf-worker-{i}")
                       for i in range(self.workers)]

    # --- what the routes call ---------------------------------------------------------------------------------
    async def enqueue(self, book_ids: Iterable[int]) -> dict[str, object]:
        """Queue one entry per book and return the new job; ``QueueFull`` if there is no room for all."""
        book_ids = list(book_ids)
        job_id, room = await self._submit(keys=[self.stream, self.key("jobs", "next"), self.key("jobs")],
                                          args=[self.max_queued, self.prefix, self.name, *book_ids])
        if not job_id:
            raise QueueFull(f"{len(book_ids)} books asked, room for {room}")
        await self._prune()
        return {"id": job_id, "state": job_state(len(book_ids), 0, 0), "total": len(book_ids), "done": 0,
                "failed": 0, "errors": {}}

    async def job(self, job_id: int) -> dict[str, object] | None:
        """The job as the API shows it, or ``None``."""
        async with self.redis.pipeline(transaction=True) as pipe:
            fields, errors = await pipe.hgetall(self.key("job", job_id)).hgetall(self.key("job", job_id, "errors")) \
                .execute()
        if not fields:
            return None
        total, done, failed = (int(fields[k]) for k in ("total", "done", "failed"))
        return {"id": job_id, "state": job_state(total, done, failed), "total": total, "done": done,
                "failed": failed, "errors": dict(sorted(errors.items(), key=lambda kv: int(kv[0])))}

    async def cached_rating(self, book_id: int) -> Rating | None:
        """The cached rating of a book, if it is still fresh."""
        text = await self.redis.get(self.key("rating", book_id))
        return Rating.model_validate_json(text) if text else None

    # --- for tests and lessons --------------------------------------------------------------------------------
    async def queued(self) -> int:
        """Entries in the queue, waiting or in a worker's hands (any process)."""
        return await self.redis.xlen(self.stream)

    async def job_ids(self) -> list[int]:
        """The ids of the jobs kept, oldest first."""
        return [int(i) for i in await self.redis.zrange(self.key("jobs"), 0, -1)]

    async def cached_ids(self) -> list[int]:
        """The books with a cached rating, least recently refreshed first."""
        return [int(i) for i in await self.redis.zrange(self.key("ratings"), 0, -1)]

    # --- inside --------------------------------------------------------------------------------------------------
    async def _prune(self) -> None:
        """Forget the oldest finished jobs beyond ``max_jobs`` (unfinished ones are kept); one process at a time."""
        async with RedisLock(self.redis, self.key("lock", "prune"), ttl=5.0) as held:
            if not held:
                return  # another process is pruning right now
            excess = await self.redis.zcard(self.key("jobs")) - self.max_jobs
            if excess <= 0:
                return
            for job_id in await self.redis.zrange(self.key("jobs"), 0, -1):
                if excess <= 0:
                    break
                fields = await self.redis.hgetall(self.key("job", job_id))
                if fields and int(fields["done"]) + int(fields["failed"]) < int(fields["total"]):
                    continue
                await self.redis.delete(self.key("job", job_id), self.key("job", job_id, "handled"),
                                        self.key("job", job_id, "errors"))
                await self.redis.zrem(self.key("jobs"), job_id)
                excess -= 1

    async def _work(self, consumer: str) -> None:
        """Take entries (first any a dead process left pending too long), handle each, acknowledge it."""
        loop = asyncio.get_running_loop()
        next_claim = 0.0
        while True:
            # redis-py may absorb a cancellation that lands in a command (a retry after the connection is
            # dropped answers normally): the task is still being cancelled, so end here
            _raise_if_cancelling()
            entries: list[Any] = []
            try:
                if loop.time() >= next_claim:
                    _, entries, *_ = await self.redis.xautoclaim(
                        self.stream, GROUP, consumer, min_idle_time=int(self.reclaim_after * 1000), count=10)
                    next_claim = loop.time() + min(1.0, self.reclaim_after / 2)
                if not entries:
                    got = await self.redis.xreadgroup(GROUP, consumer, {self.stream: ">"}, count=1, block=500)
                    entries = got[0][1] if got else []
            except RedisError as exc:  # Redis restarting, a network blip: the entries wait in Redis meanwhile
                _raise_if_cancelling()  # a cancelled command can surface as a connection error: stop anyway
                log.warning("ratings worker %s cannot reach Redis (%s); trying again in 1 s", consumer, exc)
                await asyncio.sleep(1.0)
                continue
            for entry_id, fields in entries:
                if not fields:  # deleted while pending: nothing left to do
                    await self.redis.xack(self.stream, GROUP, entry_id)
                    continue
                self.in_hand += 1
                try:
                    await self._handle(entry_id, int(fields["job"]), int(fields["book"]))
                except RedisError as exc:  # not acknowledged: after reclaim_after a worker takes it again
                    _raise_if_cancelling()
                    log.warning("ratings worker %s could not finish entry %s (%s)", consumer, entry_id, exc)
                finally:
                    self.in_hand -= 1

    async def _handle(self, entry_id: str, job_id: int, book_id: int) -> None:
        try:
            rating = await self.upstreams.rating(book_id)
            outcome, error, value = "done", "", rating.model_dump_json()
        except UpstreamError as exc:
            outcome, error, value = "failed", exc.reason, ""
        await self._finish(
            keys=[self.stream, self.key("job", job_id), self.key("job", job_id, "handled"),
                  self.key("job", job_id, "errors"), self.key("rating", book_id), self.key("ratings"),
                  self.key("ratings", "seq")],
            args=[GROUP, entry_id, book_id, outcome, error, value, int(self.ttl * 1000), self.max_cached,
                  self.prefix])

    async def stop(self, drain: float = 2.0) -> None:
        """Graceful shutdown (the default; ``create_app`` puts the ``refresher_stop`` part here)."""
        try:
            await asyncio.wait_for(self.queue.join(), drain)
        except TimeoutError:
            pass
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def close(self, drain: float = 2.0) -> None:
        """``stop(drain)``, then log how many entries stay queued in Redis for the other processes."""
        await self.stop(drain)
        left = await self.queued()
        if left:
            log.info("shutdown left %d queued rating refresh(es) in Redis for the other processes", left)

    def __repr__(self) -> str:
        return f"<RedisRefresher {self.name} prefix={self.prefix!r} workers={self.workers}>"


def describe(client: Any) -> str:
    """``host:port/db`` of a client, for the startup log."""
    kw = client.connection_pool.connection_kwargs
    return f"{kw.get('host', kw.get('path', '?'))}:{kw.get('port', '')}/{kw.get('db', 0)}"
