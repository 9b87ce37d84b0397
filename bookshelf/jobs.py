"""Background work (lesson 06): a queue of "refresh this book's rating" tasks served by worker tasks.

``POST /jobs/refresh-ratings`` enqueues one item per book and answers at once (202); the workers fill
the in-process rating cache that ``/books/{id}/details`` falls back on when the ratings service fails.
The cache and the job table live in this process only: with several worker processes (``uvicorn
--workers 4``) each would have its own, so a real deployment keeps them in the database or in Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from dataclasses import dataclass, field
from typing import Literal

from .fanout import UpstreamError, Upstreams
from .models import Rating

__all__ = ["Job", "RatingsRefresher"]


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

    def __init__(self, upstreams: Upstreams, workers: int = 4) -> None:
        self.upstreams = upstreams
        self.workers = workers
        self.cache: dict[int, Rating] = {}
        self.jobs: dict[int, Job] = {}
        self.queue: asyncio.Queue[tuple[Job, int]] = asyncio.Queue()
        self._ids = itertools.count(1)
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        """Start the worker tasks on the running loop."""
        self._tasks = [asyncio.get_running_loop().create_task(self._work(), name=f"bookshelf-worker-{i}")
                       for i in range(self.workers)]

    def submit(self, book_ids: list[int]) -> Job:
        """Queue one item per book and return the job at once."""
        job = Job(next(self._ids), list(book_ids))
        self.jobs[job.id] = job
        for book_id in job.book_ids:
            self.queue.put_nowait((job, book_id))
        return job

    async def _work(self) -> None:
        while True:
            job, book_id = await self.queue.get()
            try:
                self.cache[book_id] = await self.upstreams.rating(book_id)
                job.done += 1  # no await between reading and writing: no other task can interleave
            except UpstreamError as exc:
                job.failed += 1
                job.errors[book_id] = exc.reason
            finally:
                self.queue.task_done()

    async def stop(self, drain: float = 2.0) -> None:
        """Graceful shutdown: let queued items finish for up to ``drain`` seconds, then cancel the workers."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.queue.join(), drain)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
