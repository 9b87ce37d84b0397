"""Background work (lesson 06): a queue of "refresh this book's rating" tasks served by worker tasks.

``POST /jobs/refresh-ratings`` enqueues one item per book and answers at once (202); the workers fill
the in-process rating cache that ``/books/{id}/details`` falls back on when the ratings service fails.
The cache and the job table live in this process only: with several worker processes (``uvicorn
--workers 4``) each would have its own, so a real deployment keeps them in the database or in Redis.

Everything is bounded, because every request can add to it: the queue holds at most ``max_queued``
books (``submit`` raises ``QueueFull`` rather than accept hours of work), only the newest ``max_jobs``
jobs are kept once finished, and the cache keeps the ``max_cached`` most recently refreshed ratings.
``close()`` stops the workers and logs what was still queued: dropped work is never silent.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from dataclasses import dataclass, field
from typing import Literal

from .fanout import UpstreamError, Upstreams
from .models import Rating

__all__ = ["Job", "RatingsRefresher", "QueueFull"]

log = logging.getLogger("bookshelf.jobs")


class QueueFull(RuntimeError):
    """The queue has no room for a whole job (the API answers 503 with ``Retry-After``)."""


@dataclass
class Job:
    """One refresh request: how many of its books are done and how many failed."""

    id: int
    book_ids: list[int]
    done: int = 0
    failed: int = 0
    errors: dict[int, str] = field(default_factory=dict)

    @property
    def state(self) -> Literal["queued", "running", "finished"]:
        """``queued`` before any book is handled, ``finished`` once all are."""
        handled = self.done + self.failed
        return "queued" if handled == 0 and self.book_ids else "finished" if handled == len(self.book_ids) \
            else "running"

    def as_dict(self) -> dict[str, object]:
        """The job as the API shows it."""
        return {"id": self.id, "state": self.state, "total": len(self.book_ids), "done": self.done,
                "failed": self.failed, "errors": {str(k): v for k, v in self.errors.items()}}


class RatingsRefresher:
    """An ``asyncio.Queue`` of (job, book id) items and ``workers`` tasks that fetch ratings."""

    def __init__(self, upstreams: Upstreams, workers: int = 4, *, max_queued: int = 10_000,
                 max_jobs: int = 1_000, max_cached: int = 10_000) -> None:
        self.upstreams = upstreams
        self.workers = workers
        self.max_jobs = max_jobs
        self.max_cached = max_cached
        self.cache: dict[int, Rating] = {}  # oldest refresh first: the first key is the one to drop
        self.jobs: dict[int, Job] = {}
        self.queue: asyncio.Queue[tuple[Job, int]] = asyncio.Queue(maxsize=max_queued)
        self._ids = itertools.count(1)
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        """Start the worker tasks on the running loop."""
        self._tasks = [asyncio.get_running_loop().create_task(self._work(), name=f"bookshelf-worker-{i}")
                       for i in range(self.workers)]

    def submit(self, book_ids: list[int]) -> Job:
        """Queue one item per book and return the job at once; ``QueueFull`` if there is no room for all."""
        room = self.queue.maxsize - self.queue.qsize() if self.queue.maxsize else len(book_ids)
        if len(book_ids) > room:
            raise QueueFull(f"{len(book_ids)} books asked, room for {room}")
        job = Job(next(self._ids), list(book_ids))
        self._prune()
        self.jobs[job.id] = job
        for book_id in job.book_ids:
            self.queue.put_nowait((job, book_id))
        return job

    # The routes call these; :class:`bookshelf.shared_state.RedisRefresher` has the same ones, with Redis behind.
    async def enqueue(self, book_ids: list[int]) -> dict[str, object]:
        """``submit``, as the API shows the new job."""
        return self.submit(book_ids).as_dict()

    async def job(self, job_id: int) -> dict[str, object] | None:
        """A job as the API shows it, or ``None``."""
        job = self.jobs.get(job_id)
        return None if job is None else job.as_dict()

    async def cached_rating(self, book_id: int) -> Rating | None:
        """The cached rating of a book, or ``None``."""
        return self.cache.get(book_id)

    async def queued(self) -> int:
        """Books waiting in the queue."""
        return self.queue.qsize()

    async def job_ids(self) -> list[int]:
        """The ids of the jobs kept, oldest first."""
        return list(self.jobs)

    async def cached_ids(self) -> list[int]:
        """The books with a cached rating, least recently refreshed first."""
        return list(self.cache)

    def _prune(self) -> None:
        """Forget the oldest finished jobs beyond ``max_jobs - 1`` (unfinished ones are always kept)."""
        finished = [job_id for job_id, job in self.jobs.items() if job.state == "finished"]
        for job_id in finished[:max(0, len(self.jobs) - self.max_jobs + 1)]:
            del self.jobs[job_id]

    def _remember(self, book_id: int, rating: Rating) -> None:
        """Cache a rating as the newest entry, dropping the oldest beyond ``max_cached``."""
        self.cache.pop(book_id, None)
        self.cache[book_id] = rating
        while len(self.cache) > self.max_cached:
            del self.cache[next(iter(self.cache))]

    async def _work(self) -> None:
        while True:
            job, book_id = await self.queue.get()
            try:
                self._remember(book_id, await self.upstreams.rating(book_id))
                job.done += 1  # no await between reading and writing: no other task can interleave
            except UpstreamError as exc:
                job.failed += 1
                job.errors[book_id] = exc.reason
            finally:
                self.queue.task_done()

    async def stop(self, drain: float = 2.0) -> None:
        """Graceful shutdown: let queued items finish for up to ``drain`` seconds, then cancel the workers."""
        ### BEGIN SOLUTION
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.queue.join(), drain)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        ### END SOLUTION

    async def close(self, drain: float = 2.0) -> None:
        """``stop(drain)``, then log how many queued books were dropped and from which jobs."""
        await self.stop(drain)
        dropped: dict[int, int] = {}
        while not self.queue.empty():
            job, _ = self.queue.get_nowait()
            dropped[job.id] = dropped.get(job.id, 0) + 1
        if dropped:
            log.warning("shutdown dropped %d queued rating refresh(es) of job(s) %s", sum(dropped.values()),
                        ", ".join(f"{job_id} ({n})" for job_id, n in sorted(dropped.items())))
