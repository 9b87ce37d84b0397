"""Lesson 05's checks pass correct answers and reject the typical wrong ones with a useful message."""

from __future__ import annotations

import asyncio
import concurrent.futures
import multiprocessing

from fastapi import BackgroundTasks, FastAPI
from starlette.concurrency import run_in_threadpool

from labkit.checks import CheckFailed, run_check
from labkit.exercises import lesson05
from labkit.exercises.lesson05 import count_primes
from labkit.standins import run_inline


def test_count_primes():
    assert [count_primes(n) for n in (2, 3, 10, 100)] == [0, 1, 4, 25]


# -- 05.offload ---------------------------------------------------------------------------------

async def offload_to_thread(fn, *args):
    return await asyncio.to_thread(fn, *args)


async def offload_threadpool(fn, *args):
    return await run_in_threadpool(fn, *args)


async def offload_on_the_loop(fn, *args):
    return fn(*args)


async def offload_one_at_a_time(fn, *args):
    async with LOCK:
        return await asyncio.to_thread(fn, *args)


LOCK = asyncio.Lock()


async def offload_swallowing_errors(fn, *args):
    try:
        return await asyncio.to_thread(fn, *args)
    except Exception:  # noqa: BLE001 - the mistake under test
        return None


def test_offload_accepts_both_thread_pools():
    assert run_check("05.offload", {"offload": offload_to_thread}).passed
    assert run_check("05.offload", {"offload": offload_threadpool}).passed


def test_offload_rejects_a_call_on_the_loop_serialised_calls_and_lost_errors():
    result = run_check("05.offload", {"offload": offload_on_the_loop})
    assert result.status == "failed" and "event loop's own thread" in result.message
    global LOCK
    LOCK = asyncio.Lock()
    result = run_check("05.offload", {"offload": offload_one_at_a_time})
    assert result.status == "failed" and "one at a time" in result.message
    result = run_check("05.offload", {"offload": offload_swallowing_errors})
    assert result.status == "failed" and "propagate" in result.message


# -- 05.cpu_pool --------------------------------------------------------------------------------

SPAWN = multiprocessing.get_context("spawn")


class LongLivedPool:
    """The answer: one pool for the object's life, shut down in a worker thread."""

    def __init__(self, workers=2):
        self._pool = concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=SPAWN)

    async def map(self, fn, inputs):
        loop = asyncio.get_running_loop()
        return list(await asyncio.gather(*(loop.run_in_executor(self._pool, fn, x) for x in inputs)))

    async def close(self):
        await asyncio.to_thread(self._pool.shutdown)


class PoolPerCallWithBlock(LongLivedPool):
    """The lesson's old answer: a `with` block per call, whose exit shuts the pool down on the loop."""

    def __init__(self, workers=2):
        self.workers = workers

    async def map(self, fn, inputs):
        loop = asyncio.get_running_loop()
        with concurrent.futures.ProcessPoolExecutor(max_workers=self.workers, mp_context=SPAWN) as pool:
            return list(await asyncio.gather(*(loop.run_in_executor(pool, fn, x) for x in inputs)))

    async def close(self):
        pass


class PoolPerCallClosedOffTheLoop(PoolPerCallWithBlock):
    async def map(self, fn, inputs):
        loop = asyncio.get_running_loop()
        pool = concurrent.futures.ProcessPoolExecutor(max_workers=self.workers, mp_context=SPAWN)
        try:
            return list(await asyncio.gather(*(loop.run_in_executor(pool, fn, x) for x in inputs)))
        finally:
            await asyncio.to_thread(pool.shutdown)


class ClosedOnTheLoop(LongLivedPool):
    async def close(self):
        self._pool.shutdown()


class NeverClosed(LongLivedPool):
    async def close(self):
        LEAKED.append(self._pool)


LEAKED: list[concurrent.futures.ProcessPoolExecutor] = []


class ThreadsInstead(LongLivedPool):
    def __init__(self, workers=2):
        pass

    async def map(self, fn, inputs):
        return list(await asyncio.gather(*(asyncio.to_thread(fn, x) for x in inputs)))

    async def close(self):
        pass


class ByCompletion(LongLivedPool):
    async def map(self, fn, inputs):
        loop = asyncio.get_running_loop()
        futures = [loop.run_in_executor(self._pool, fn, x) for x in inputs]
        return [await f for f in asyncio.as_completed(futures)][::-1]


def test_cpu_pool_accepts_one_pool_kept_and_shut_down_off_the_loop():
    result = run_check("05.cpu_pool", {"CpuPool": LongLivedPool})
    assert result.passed, result


def test_cpu_pool_rejects_a_with_block_per_call_by_the_loop_lag_of_its_teardown():
    result = run_check("05.cpu_pool", {"CpuPool": PoolPerCallWithBlock})
    assert result.status == "failed" and "stalled" in result.message and "with ProcessPoolExecutor" in result.message


def test_cpu_pool_rejects_a_shutdown_on_the_loop_and_a_pool_per_call():
    result = run_check("05.cpu_pool", {"CpuPool": ClosedOnTheLoop})
    assert result.status == "failed" and "while the pool shut down" in result.message, result
    result = run_check("05.cpu_pool", {"CpuPool": PoolPerCallClosedOffTheLoop})
    assert result.status == "failed" and "new processes" in result.message, result


def test_cpu_pool_rejects_threads_lost_order_and_an_open_pool():
    result = run_check("05.cpu_pool", {"CpuPool": ThreadsInstead})
    assert result.status == "failed" and "kernel's own process" in result.message
    result = run_check("05.cpu_pool", {"CpuPool": ByCompletion})
    assert result.status == "failed" and "order" in result.message
    try:
        result = run_check("05.cpu_pool", {"CpuPool": NeverClosed})
        assert result.status == "failed" and "still running after close()" in result.message
    finally:
        for pool in LEAKED:
            pool.shutdown()


def test_a_worker_of_the_check_takes_its_time_to_exit():
    """The stall the check looks for is real: shutting the pool down on the loop waits for the slow exits."""
    import functools
    import os
    import tempfile
    import time

    with tempfile.TemporaryDirectory() as folder:
        pool = concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=SPAWN)
        try:
            pool.submit(functools.partial(lesson05.pool_probe, folder, 0.0, os.getpid()), 10).result(timeout=60)
        finally:
            started = time.perf_counter()
            pool.shutdown()
            waited = time.perf_counter() - started
    assert waited >= lesson05.EXIT_SECONDS * 0.9


# -- 05.background ------------------------------------------------------------------------------

def export_app(export) -> FastAPI:
    app = FastAPI()

    @app.post("/exports", status_code=202)
    async def start(shelf: str, background: BackgroundTasks) -> dict[str, str]:
        background.add_task(export, shelf)
        return {"shelf": shelf, "status": "accepted"}

    return app


def export_inline(export) -> FastAPI:
    app = FastAPI()

    @app.post("/exports", status_code=202)
    def start(shelf: str) -> dict[str, str]:
        export(shelf)
        return {"shelf": shelf, "status": "accepted"}

    return app


def export_status_200(export) -> FastAPI:
    app = FastAPI()

    @app.post("/exports")
    async def start(shelf: str, background: BackgroundTasks) -> dict[str, str]:
        background.add_task(export, shelf)
        return {"shelf": shelf, "status": "accepted"}

    return app


def test_background_accepts_add_task_and_rejects_inline_work_and_a_200():
    assert run_check("05.background", {"make_export_app": export_app}).passed
    result = run_check("05.background", {"make_export_app": export_inline})
    assert result.status == "failed" and "the client waited" in result.message
    result = run_check("05.background", {"make_export_app": export_status_200})
    assert result.status == "failed" and "202" in result.message


def test_offload_in_the_app_fails_the_stand_in_that_runs_on_the_loop():
    assert run_check("05.offload", {"offload": offload_to_thread}).passed
    try:
        asyncio.run(lesson05._check_offload_in_the_app(run_inline))
    except CheckFailed as exc:
        assert "ran on the server's event-loop thread" in str(exc)
    else:
        raise AssertionError("the stand-in that runs on the loop passed the check's HTTP part")
    assert run_check("05.offload", {"offload": run_inline}).status == "failed"


async def offload_without_args(fn, *args):
    return await asyncio.to_thread(fn)


def test_offload_in_the_app_reports_what_the_endpoint_answered():
    try:
        asyncio.run(lesson05._check_offload_in_the_app(offload_without_args))
    except CheckFailed as exc:
        assert "GET /books/2/similar?limit=3 answered 500" in str(exc)
    else:
        raise AssertionError("an offload that drops the arguments passed the check's HTTP part")
