"""Lesson 05 (Don't block the event loop): checks of the three exercises.

The checks test behaviour, not speed: they count calls running at the same moment, note which thread or
process ran them, measure the event loop's lag against generous bounds, and make the instrumented functions
wait for an event that only a correct answer can produce (a second worker process, the loop answering, the
client receiving its response), with a time limit after which they give up and report what was missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import inspect
import multiprocessing
import os
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from ..checks import expect, exercise, same

__all__ = ["check_offload", "check_cpu_pool", "check_background", "pool_probe", "count_primes", "EXIT_SECONDS"]


@contextlib.contextmanager
def _lag_meter(interval: float = 0.01) -> Iterator[dict[str, float]]:
    """Measure, on the running loop, the worst lateness of a task that sleeps ``interval`` again and again."""
    seen = {"max_lag": 0.0}

    async def tick() -> None:
        loop = asyncio.get_running_loop()
        while True:
            start = loop.time()
            await asyncio.sleep(interval)
            seen["max_lag"] = max(seen["max_lag"], loop.time() - start - interval)

    task = asyncio.get_running_loop().create_task(tick())
    try:
        yield seen
    finally:
        task.cancel()


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


# -- 05.offload ----------------------------------------------------------------------------------

class _Blocking:
    """A blocking function that records calls running at once and the threads that ran them."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.lock = threading.Lock()
        self.running = self.peak = self.calls = 0
        self.threads: set[int] = set()

    def __call__(self, x: int, y: int = 0) -> int:
        with self.lock:
            self.calls += 1
            self.running += 1
            self.peak = max(self.peak, self.running)
            self.threads.add(threading.get_ident())
        try:
            time.sleep(self.seconds)
        finally:
            with self.lock:
                self.running -= 1
        return x * 10 + y


def _explode(message: str) -> None:
    raise ValueError(message)


@exercise("05.offload", target="offload", points=2, timeout=30)
async def check_offload(offload: Callable[..., Awaitable[Any]]) -> None:
    """`await offload(fn, *args)` returns fn's result, runs fn outside the loop's thread, keeps the loop free."""
    seconds = 0.3
    blocking = _Blocking(seconds)
    loop_thread = threading.get_ident()
    with _lag_meter() as lag:
        got = await asyncio.gather(*(offload(blocking, k, 1) for k in range(4)))
        await asyncio.sleep(0.03)   # one more tick, so a block at the very end is measured too
    expect(blocking.calls == 4, f"fn was called {blocking.calls} time(s) for 4 offload calls; call it once each")
    expect(same(list(got), [1, 11, 21, 31]),
           f"offload(fn, k, 1) returned {_describe(list(got))} for k = 0..3; expected [1, 11, 21, 31], what "
           f"fn(k, 1) returns: pass the positional arguments on and return fn's result")
    expect(loop_thread not in blocking.threads,
           "fn ran in the event loop's own thread, so it blocked the loop: send it to a worker thread "
           "(`await asyncio.to_thread(fn, *args)`)")
    expect(blocking.peak >= 2, f"the 4 offloaded calls ran one at a time (at most {blocking.peak} at once): each "
                               f"offload should let the loop go on while fn runs, so that the calls overlap")
    expect(lag["max_lag"] < seconds / 2,
           f"the event loop lagged by {lag['max_lag']:.2f} s while the calls ran (each blocks for {seconds} s): "
           f"something still blocked the loop")
    try:
        await offload(_explode, "bad input")
    except ValueError as exc:
        expect(same(str(exc), "bad input"), f"offload raised ValueError({str(exc)!r}); expected fn's own error")
    else:
        expect(False, "fn raised ValueError('bad input'), but offload did not raise it: let fn's exception "
                      "propagate to the caller")
    await _check_offload_in_the_app(offload)


async def _check_offload_in_the_app(offload: Callable[..., Awaitable[Any]]) -> None:
    """The same function running the ranking of GET /books/{id}/similar in the course's app, called over HTTP.

    The app's part is the learner's ``offload`` with a thin wrapper around it that notes the server loop's
    thread and, around the ranking, the thread that ranked.
    """
    import httpx
    from bookshelf import Settings, create_app
    from bookshelf.catalogue import load_books
    from bookshelf.recommend import similar_books
    from bookshelf.settings import DATA_FILE

    from ..serving import serve

    loop_threads: set[int] = set()
    ranked_in: list[int] = []

    def noted(fn: Callable[..., Any]) -> Callable[..., Any]:
        def ranking(*args: Any) -> Any:
            ranked_in.append(threading.get_ident())
            return fn(*args)
        return ranking

    async def watched(fn: Callable[..., Any], *args: Any) -> Any:
        loop_threads.add(threading.get_ident())
        return await offload(noted(fn), *args)

    books = load_books(DATA_FILE)
    wanted = [b.id for b in similar_books(books, next(b for b in books if b.id == 2), 3)]
    server = serve(create_app(Settings.ephemeral(), stage=5, parts={"offload": watched}), name="check-05.offload")
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=20) as client:
            r = await client.get("/books/2/similar", params={"limit": 3})
    finally:
        await server.astop()
    got = [b.get("id") for b in r.json()] if r.status_code == 200 else None
    expect(got == wanted, f"served in the app, GET /books/2/similar?limit=3 answered {r.status_code} "
                          f"{_describe(r.text)}; expected 200 with books {wanted}")
    expect(ranked_in and not loop_threads & set(ranked_in),
           "served in the app, the ranking of GET /books/2/similar ran on the server's event-loop thread: "
           "offload must hand fn to a worker thread")


# -- 05.cpu_pool ---------------------------------------------------------------------------------

EXIT_SECONDS = 0.4   # how long each worker process of the check takes to exit (see pool_probe)
_slow_exit: list[int] = []


def count_primes(n: int) -> int:
    """How many primes are below ``n`` (trial division: deliberately plain CPU work)."""
    return sum(1 for k in range(2, n) if all(k % d for d in range(2, int(k ** 0.5) + 1)))


def pool_probe(folder: str, patience: float, parent: int, n: int) -> dict[str, Any]:
    """Run in a worker process: wait until a second process works too and the check's loop has answered.

    It leaves ``started-<pid>-<n>`` in ``folder``; the check's event loop answers with ``seen-<pid>-<n>``
    (only a free loop can). It waits at most ``patience`` seconds; after one call gave up, later calls do not
    wait, and neither does a call made in the ``parent`` process itself. Then it does its CPU work and reports
    the process it ran in. A worker process that ran it takes ``EXIT_SECONDS`` to exit, as a real worker
    that loaded a model or a catalogue takes a moment to shut down: waiting for the pool's processes to
    exit is then a wait that no event loop should sit through.
    """
    pid = os.getpid()
    if pid != parent and not _slow_exit:
        from multiprocessing import util

        _slow_exit.append(pid)
        util.Finalize(None, time.sleep, args=(EXIT_SECONDS,), exitpriority=0)   # runs as the worker exits
    base = Path(folder)
    (base / f"started-{pid}-{n}").touch()
    deadline = time.monotonic() + patience
    answered = two_processes = False
    while pid != parent and not (base / "gave-up").exists():
        pids = {p.name.split("-")[1] for p in base.glob("started-*")}
        two_processes = len(pids) >= 2
        answered = (base / f"seen-{pid}-{n}").exists()
        if answered and two_processes:
            break
        if time.monotonic() > deadline:
            (base / "gave-up").touch()
            break
        time.sleep(0.005)
    return {"n": n, "primes": count_primes(n), "pid": pid, "loop_answered": answered}


def _check_results(results: Any, inputs: list[int], call: str) -> set[int]:
    """The results of one ``map`` call are fn's, in input order; returns the worker pids that produced them."""
    expect(isinstance(results, list), f"{call} should return a list, got {type(results).__name__}")
    expect(len(results) == len(inputs), f"{call} returned {len(results)} result(s) for {len(inputs)} inputs")
    expect(all(isinstance(r, dict) and "n" in r for r in results),
           f"{call}: return what fn returns for each input; got {_describe(results)}")
    order = [r["n"] for r in results]
    expect(same(order, inputs), f"{call}: the results came back for inputs {order}; expected the order of inputs "
                            f"{inputs} (asyncio.gather keeps it)")
    wrong = [r["n"] for r in results if not same(r["primes"], count_primes(r["n"]))]
    expect(not wrong, f"{call}: the results for inputs {wrong} are not fn's")
    pids = {r["pid"] for r in results}
    expect(os.getpid() not in pids, f"{call}: some calls ran in the kernel's own process: run fn in the "
                                    "ProcessPoolExecutor")
    expect(all(r["loop_answered"] for r in results),
           f"{call}: the event loop was blocked while the pool worked: await the pool's futures "
           "(loop.run_in_executor(pool, fn, x) with asyncio.gather) instead of waiting on them synchronously")
    return pids


@exercise("05.cpu_pool", target="CpuPool", points=3, timeout=90)
async def check_cpu_pool(CpuPool: Callable[..., Any]) -> None:
    """One pool for many calls: results in order, >= 2 worker processes, the loop free meanwhile and while closing."""
    limit = EXIT_SECONDS / 2.5     # the loop may not stall this long; shutting down on it stalls >= EXIT_SECONDS
    before = {p.pid for p in multiprocessing.active_children()}
    with tempfile.TemporaryDirectory(prefix="lesson05-pool-") as folder:
        base = Path(folder)

        async def answer() -> None:   # the loop acknowledges every call it sees start
            while True:
                for started in base.glob("started-*"):
                    (base / started.name.replace("started-", "seen-", 1)).touch()
                await asyncio.sleep(0.01)

        # A worker process imports the probe by its module's name. The grader runs a copy of this module
        # under another name, so take the probe from the installed module that workers will import.
        probe = importlib.import_module("labkit.exercises.lesson05").pool_probe
        fn = functools.partial(probe, folder, 10.0, os.getpid())
        responder = asyncio.get_running_loop().create_task(answer())
        pool = None
        try:
            with _lag_meter() as lag:
                pool = CpuPool(workers=2)
                first = await pool.map(fn, [3000, 2000, 5000, 1000, 4000, 2500])
                second = await pool.map(fn, [1500, 3500, 500])
                await asyncio.sleep(0.03)
                working_lag, lag["max_lag"] = lag["max_lag"], 0.0
                closed = pool.close()
                expect(inspect.isawaitable(closed), "close() should be a coroutine (`async def close(self)`), "
                                                    "so that the app's shutdown can await it")
                await closed
                pool = None
                await asyncio.sleep(0.03)   # one more tick, so a stall at the very end is measured too
                closing_lag = lag["max_lag"]
        finally:
            responder.cancel()
            if pool is not None:   # the check failed half-way: do not leave the learner's processes behind
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(pool.close(), 10)
    first_pids = _check_results(first, [3000, 2000, 5000, 1000, 4000, 2500], "the first map(fn, inputs)")
    expect(len(first_pids) >= 2, f"only {len(first_pids)} process did all the work: create the pool with "
                                 f"max_workers=workers and submit every input before waiting for results")
    expect(working_lag < limit,
           f"the event loop stalled for {working_lag:.2f} s while map ran. A `with ProcessPoolExecutor(...)` "
           f"block shuts its pool down on the loop when it ends (pool.shutdown() waits until every worker "
           f"process has exited, here {EXIT_SECONDS} s each): create the pool once, in __init__, keep it for "
           f"every call, and make every wait for it an await")
    second_pids = _check_results(second, [1500, 3500, 500], "the second map(fn, inputs)")
    expect(second_pids <= first_pids,
           "the second map call ran in new processes: create the pool once, in __init__, and reuse it in every "
           "call (starting worker processes costs a fraction of a second each time)")
    expect(closing_lag < limit,
           f"the event loop stalled for {closing_lag:.2f} s while the pool shut down: pool.shutdown() waits "
           f"until every worker process has exited, and here each takes {EXIT_SECONDS} s. Run it in a worker "
           f"thread (`asyncio.to_thread(...)` with the pool's `shutdown`), not on the loop (a `with` block around "
           f"the pool calls it on the loop too)")
    deadline = time.monotonic() + 5.0
    left = [p for p in multiprocessing.active_children() if p.pid not in before]
    while left and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        left = [p for p in multiprocessing.active_children() if p.pid not in before]
    expect(not left, f"{len(left)} worker process(es) were still running after close() returned: shut the pool "
                     f"down and wait for it (`shutdown()` waits by default)")


# -- 05.background -------------------------------------------------------------------------------

class _Export:
    """A blocking export that will not finish before the check says its response has arrived."""

    def __init__(self, patience: float) -> None:
        self.patience = patience
        self.response_arrived = threading.Event()
        self.calls: list[tuple[Any, ...]] = []
        self.finished = threading.Event()
        self.finished_before_response = False

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        self.calls.append(args + tuple(kwargs.values()))
        if not self.response_arrived.wait(self.patience):
            self.finished_before_response = True
        time.sleep(0.05)
        self.finished.set()


@exercise("05.background", target="make_export_app", points=2, timeout=40)
async def check_background(make_export_app: Callable[[Callable[..., None]], Any]) -> None:
    """POST /exports answers 202 before the export finishes; the export then runs once, with the name."""
    import httpx
    from fastapi import FastAPI

    from ..serving import serve

    export = _Export(patience=3.0)
    app = make_export_app(export)
    expect(isinstance(app, FastAPI), f"make_export_app should return a FastAPI app, got {type(app).__name__}")
    server = serve(app, name="check-05.background")
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=20) as client:
            r = await client.post("/exports", params={"shelf": "classics"})
            export.response_arrived.set()
        expect(r.status_code == 202, f"POST /exports answered {r.status_code}; expected 202 "
                                     f"(`@app.post(\"/exports\", status_code=202)`)")
        expect(r.json() == {"shelf": "classics", "status": "accepted"},
               f"POST /exports?shelf=classics returned {_describe(r.json())}; expected "
               f"{{'shelf': 'classics', 'status': 'accepted'}}")
        expect(not export.finished_before_response,
               "the response came only after the export had finished: the client waited for the work. "
               "Add it with background.add_task(export, shelf) instead of calling it")
        finished = await asyncio.to_thread(export.finished.wait, 10.0)
        expect(finished and export.calls, "the export never ran after the response: "
                                          "add it with background.add_task(export, shelf)")
        expect(len(export.calls) == 1, f"export ran {len(export.calls)} times for one request; expected once")
        expect(export.calls[0] == ("classics",),
               f"export was called with {_describe(export.calls[0])}; expected export('classics')")
    finally:
        export.response_arrived.set()
        await server.astop()
