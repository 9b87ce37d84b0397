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


async def pool_gather(fn, inputs, workers=2):
    loop = asyncio.get_running_loop()
    with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=SPAWN) as pool:
        return list(await asyncio.gather(*(loop.run_in_executor(pool, fn, x) for x in inputs)))


async def pool_never_shut_down(fn, inputs, workers=2):
    loop = asyncio.get_running_loop()
    pool = concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=SPAWN)
    LEAKED.append(pool)
    return list(await asyncio.gather(*(loop.run_in_executor(pool, fn, x) for x in inputs)))


LEAKED: list[concurrent.futures.ProcessPoolExecutor] = []


async def threads_instead(fn, inputs, workers=2):
    return list(await asyncio.gather(*(asyncio.to_thread(fn, x) for x in inputs)))


async def results_by_completion(fn, inputs, workers=2):
    loop = asyncio.get_running_loop()
    with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=SPAWN) as pool:
        futures = [loop.run_in_executor(pool, fn, x) for x in inputs]
        return [await f for f in asyncio.as_completed(futures)][::-1]


def test_cpu_pool_accepts_a_process_pool_awaited_with_gather():
    assert run_check("05.cpu_pool", {"run_in_pool": pool_gather}).passed


def test_cpu_pool_rejects_threads_lost_order_and_an_open_pool():
    result = run_check("05.cpu_pool", {"run_in_pool": threads_instead})
    assert result.status == "failed" and "kernel's own process" in result.message
    result = run_check("05.cpu_pool", {"run_in_pool": results_by_completion})
    assert result.status == "failed" and "order" in result.message
    try:
        result = run_check("05.cpu_pool", {"run_in_pool": pool_never_shut_down})
        assert result.status == "failed" and "shut the pool down" in result.message
    finally:
        for pool in LEAKED:
            pool.shutdown()


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
