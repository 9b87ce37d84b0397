"""Lesson 06 (Shared state and background work): a reservation without a lost update, a worker pool,
and a graceful stop.

The checks hand the learner's code instrumented inputs: a stock whose ``audit`` step awaits and records
what it saw, a handler that counts the calls in flight and the tasks that ran it, a ratings service
stand-in that can be made to hang. Interleavings come from ``await asyncio.sleep(0)`` and from events,
never from timing luck, so a racy answer fails on every run and a correct one passes on every run.
"""

from __future__ import annotations

import asyncio
import inspect
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from ..checks import CheckFailed, exercise, expect, same

__all__ = ["check_reserve_copy", "check_worker_pool", "check_graceful_stop", "AuditedStock"]

_PATIENCE = 10.0  # seconds a check waits for the learner's coroutine before it says what it waited on


async def _call(name: str, make: Callable[[], Any], waiting_on: str, patience: float = _PATIENCE,
                observe: Callable[[], Any] | None = None) -> Any:
    """Await the learner's call with a deadline; ``observe()`` runs the moment it returns."""
    result = make()
    expect(inspect.isawaitable(result),
           f"`{name}` returned {type(result).__name__} without being awaited: define it with `async def`")

    async def run() -> Any:
        value = await result
        return (value, observe()) if observe is not None else value

    try:
        return await asyncio.wait_for(run(), patience)
    except asyncio.TimeoutError:
        raise CheckFailed(f"`{name}` had not returned after {patience:g} s; {waiting_on}") from None
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise  # the check itself is being stopped: never swallow that
        raise CheckFailed(f"`{name}` raised CancelledError: awaiting a task you cancelled re-raises its "
                          f"cancellation; use `await asyncio.gather(*tasks, return_exceptions=True)`") from None


async def _cancel_leftovers(ours: set[asyncio.Task[Any]]) -> None:
    """Leave the check's loop clean whatever the learner's code left behind."""
    leftovers = [t for t in asyncio.all_tasks() - ours if not t.done()]
    for task in leftovers:
        task.cancel()
    if leftovers:
        await asyncio.gather(*leftovers, return_exceptions=True)


# -- 06.reserve_copy -------------------------------------------------------------------------------

class AuditedStock:
    """The lesson's ``Stock``, instrumented: ``audit`` yields to the loop and records the count it saw."""

    def __init__(self, copies: dict[int, int]) -> None:
        self.available = dict(copies)
        self.lock = asyncio.Lock()
        self.seen: dict[int, list[int]] = {book_id: [] for book_id in copies}

    async def audit(self, book_id: int) -> None:
        """Record a reservation (in the lesson: a write to an audit log); other tasks run meanwhile."""
        self.seen.setdefault(book_id, []).append(self.available.get(book_id, 0))
        await asyncio.sleep(0)


@exercise("06.reserve_copy", target="reserve_copy", points=2, timeout=30)
async def check_reserve_copy(reserve_copy: Callable[..., Awaitable[Any]]) -> None:
    """100 concurrent reservations of a 10-copy book (and 10 of a 3-copy one): exactly 13 succeed."""
    copies = {7: 10, 8: 3}
    requests = [7] * 100 + [8] * 10
    requests = [book for pair in zip(requests[:55], requests[55:]) for book in pair]  # interleave the books
    stock = AuditedStock(copies)
    ours = asyncio.all_tasks()
    try:
        results = await _call(
            "reserve_copy", lambda: asyncio.gather(*(reserve_copy(stock, b) for b in requests)),
            "110 reservations that each await one `asyncio.sleep(0)` should take milliseconds: is a lock never "
            "released, or did you use a threading.Lock (it blocks the whole event loop)?")
    finally:
        await _cancel_leftovers(ours)
    not_bool = [r for r in results if not isinstance(r, bool)]
    expect(not not_bool, f"reserve_copy returned {not_bool[:1]!r}; return True (reserved) or False (none left)")
    for book_id, n in copies.items():
        asked = requests.count(book_id)
        won = sum(1 for b, r in zip(requests, results) if b == book_id and r)
        left = stock.available[book_id]
        expect(won <= n and left >= 0,
               f"book {book_id} had {n} copies and {asked} concurrent reservations: {won} succeeded and "
               f"{left} copies are left, so it was oversold. Each reservation read the count, awaited "
               f"`stock.audit`, and another reservation ran meanwhile: hold `stock.lock` from the read to "
               f"the write (`async with stock.lock:`)")
        expect(won == n and left == 0,
               f"book {book_id} had {n} copies and {asked} reservations, but only {won} succeeded "
               f"({left} copies left): every reservation should succeed while copies remain")
        audits = stock.seen.get(book_id, [])
        expect(len(audits) == n,
               f"`stock.audit` was awaited {len(audits)} time(s) for book {book_id}; it should be awaited once "
               f"per successful reservation ({n}): check first, audit, then take the copy")
        expect(audits == list(range(n, 0, -1)),
               f"when `stock.audit` ran for book {book_id} it saw {audits} copies; expected {list(range(n, 0, -1))}: "
               f"await the audit *before* you take the copy, inside the same `async with stock.lock:` block")


# -- 06.worker_pool --------------------------------------------------------------------------------

@exercise("06.worker_pool", target="process_all", points=2, timeout=40)
async def check_worker_pool(process_all: Callable[..., Awaitable[Any]]) -> None:
    """`process_all(items, handler, workers)`: each item once, exactly `workers` in flight, nothing left over."""

    async def run_case(items: list[Any], workers: int, bad: set[Any]) -> None:
        handled: Counter[Any] = Counter()
        runners: set[int] = set()
        state = {"now": 0, "peak": 0}

        async def handler(item: Any) -> None:
            handled[item] += 1
            runners.add(id(asyncio.current_task()))
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
            try:
                await asyncio.sleep(0.01 + 0.01 * (hash(item) % 3))
                if item in bad:
                    raise ValueError(f"cannot handle item {item!r}")
            finally:
                state["now"] -= 1

        ours = asyncio.all_tasks()
        try:
            failed, pending = await _call(
                "process_all", lambda: process_all(list(items), handler, workers),
                f"{len(items)} items of at most 0.03 s each with {workers} workers: does a worker die on an error "
                f"without calling `queue.task_done()` (then `queue.join()` waits forever), or does a worker never "
                f"stop?", patience=5.0, observe=lambda: [t for t in asyncio.all_tasks() - ours - {asyncio.current_task()}
                                           if not t.done()])
        finally:
            await _cancel_leftovers(ours)
        what = f"process_all({len(items)} items, handler, workers={workers})"
        missing = [i for i in items if handled[i] == 0]
        twice = [i for i in items if handled[i] > 1]
        expect(not missing, f"{what} never handled item(s) {missing[:5]}: every item put on the queue must "
                            f"reach a worker, even after another item's handler raised")
        expect(not twice, f"{what} handled item(s) {twice[:5]} more than once")
        expect(state["peak"] <= workers,
               f"{what} ran {state['peak']} handlers at once; at most {workers} should run (one per worker)")
        expect(state["peak"] == min(workers, len(items)),
               f"{what} ran at most {state['peak']} handler(s) at once; with {len(items)} items waiting, "
               f"all {min(workers, len(items))} workers should be busy together: start them as tasks before "
               f"you wait")
        expect(len(runners) <= workers,
               f"the handler ran in {len(runners)} different tasks: a pool has exactly {workers} worker tasks, "
               f"each taking item after item from one `asyncio.Queue`")
        expect(not pending, f"{len(pending)} task(s) were still pending when process_all returned: once "
                            f"`queue.join()` returns, cancel the workers and await them")
        got = sorted(failed, key=repr) if isinstance(failed, (list, tuple, set)) else failed
        expect(same(got, sorted(bad, key=repr)),
               f"{what} returned {failed!r}; it should return the list of items whose handler raised "
               f"({sorted(bad, key=repr)})")

    await run_case(list(range(24)), 4, {5, 17})
    await run_case(["a", "b", "c"], 5, set())
    await run_case([], 3, set())


# -- 06.graceful_stop ------------------------------------------------------------------------------

class _FakeRatings:
    """A stand-in for ``Upstreams``: ``rating()`` records its calls and waits (or hangs until cancelled)."""

    def __init__(self, hang: bool = False) -> None:
        self.calls: Counter[int] = Counter()
        self.finished: Counter[int] = Counter()
        self.hang = hang

    async def rating(self, book_id: int) -> Any:
        from bookshelf.models import Rating

        self.calls[book_id] += 1
        if self.hang:
            await asyncio.Event().wait()  # never set: only a cancel ends it
        await asyncio.sleep(0.02)
        self.finished[book_id] += 1
        return Rating(average=4.0, count=1)


@exercise("06.graceful_stop", target="stop", points=3, timeout=40)
async def check_graceful_stop(stop: Callable[..., Awaitable[Any]]) -> None:
    """`RatingsRefresher.stop`: drains what was accepted, cancels and awaits the workers, can run twice."""
    from bookshelf.jobs import RatingsRefresher

    expect(callable(stop), "`stop` should be the method, written as `async def stop(self, drain=2.0)`")
    refresher_cls = type("LearnersRefresher", (RatingsRefresher,), {"stop": stop})
    ours = asyncio.all_tasks()

    def not_done(tasks: list[asyncio.Task[Any]]) -> list[asyncio.Task[Any]]:
        return [t for t in tasks if not t.done()]

    try:
        # 1. Accepted items are finished before the workers go; the workers end cancelled and awaited.
        upstream = _FakeRatings()
        refresher = refresher_cls(upstream, workers=3)
        refresher.start()
        workers = list(refresher._tasks)
        job = refresher.submit(list(range(1, 13)))
        await asyncio.sleep(0)  # the workers pick up their first items
        _, running = await _call("stop", lambda: refresher.stop(drain=5.0),
                                 "12 items of 0.02 s with 3 workers need about 0.1 s to drain",
                                 observe=lambda: not_done(workers))
        lost = [b for b in job.book_ids if upstream.finished[b] == 0]
        expect(not lost, f"stop() returned with {len(lost)} of the 12 accepted items never finished "
                         f"(books {lost[:5]}): wait for the queue to drain (`queue.join()`) before you cancel")
        expect(job.done == 12, f"the job shows {job.done} of 12 books done after stop()")
        expect(not running, f"{len(running)} worker task(s) were still running when stop() returned: cancel "
                            f"each one, then await them (`asyncio.gather(*tasks, return_exceptions=True)`)")
        expect(all(t.cancelled() for t in workers),
               "the idle workers should end cancelled: once the queue is drained, `.cancel()` each of them")
        # 2. Stopping twice is safe and quick.
        await _call("stop", lambda: refresher.stop(drain=5.0),
                    "a second stop() on a stopped refresher with an empty queue should return at once", patience=3.0)

        # 3. A stuck item does not hold shutdown for ever: drain for `drain` seconds, then cancel.
        stuck = refresher_cls(_FakeRatings(hang=True), workers=2)
        stuck.start()
        workers = list(stuck._tasks)
        stuck.submit([1, 2, 3])
        await asyncio.sleep(0)
        _, running = await _call("stop", lambda: stuck.stop(drain=0.3),
                                 "its items hang for ever and `drain` was 0.3 s: wait for the queue with a time "
                                 "limit (`asyncio.wait_for(self.queue.join(), drain)`), then cancel the workers "
                                 "even if items are left", patience=5.0,
                                 observe=lambda: not_done(workers))
        expect(not running, f"{len(running)} worker task(s) were still running when stop() returned: await them "
                            f"after cancelling")
        pending = [t for t in asyncio.all_tasks() - ours - {asyncio.current_task()} if not t.done()]
        expect(not pending, f"{len(pending)} task(s) were left pending after stop(): {pending[:2]}")
        await _call("stop", lambda: stuck.stop(drain=0.3), "a second stop() should be safe", patience=5.0)
    finally:
        await _cancel_leftovers(ours)
    await _check_stop_in_the_app(stop)


async def _check_stop_in_the_app(stop: Callable[..., Awaitable[Any]]) -> None:
    """The same function as the refresher's stop in the course's app: stopping the server finishes a queued job."""
    from bookshelf import Settings, create_app
    from bookshelf.settings import Behaviour

    from ..serving import serve

    settings = Settings.ephemeral().with_behaviour(ratings=Behaviour(latency=0.02, jitter=0.0))
    app = create_app(settings, stage=6, parts={"refresher_stop": stop})
    server = serve(app, name="check-06.graceful_stop")
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            r = await client.post("/jobs/refresh-ratings", json={"book_ids": list(range(1, 9))})
        expect(r.status_code == 202, f"served in the app, POST /jobs/refresh-ratings answered {r.status_code} "
                                     f"{r.text[:200]}")
        refresher = app.state.refresher
    finally:
        server.stop()   # uvicorn's shutdown runs the lifespan, which awaits the refresher's stop
    job = refresher.jobs[r.json()["id"]]
    total, handled = len(job.book_ids), job.done + job.failed
    expect(handled == total, f"served in the app, a job of {total} books queued just before the server "
                             f"stopped had {handled} handled after the shutdown: your stop should drain it")
    expect(not [t for t in refresher._tasks if not t.done()], "worker tasks were left running after the app stopped")
