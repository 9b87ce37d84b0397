"""Teaching fixes in lessons 01-03: each test here failed before its fix."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from asgi_lifespan import LifespanManager

from bookshelf import Settings, create_app, fanout
from bookshelf.settings import Behaviour
from labkit.checks import run_check


# -- 03.bounded_gather takes zero-argument calls, not awaitables that may already run ----------------

async def bounded_awaitables(aws, *, limit):
    """The old contract: awaitables in, a semaphore around each await (too late for a running task)."""
    semaphore = asyncio.Semaphore(limit)

    async def one(aw):
        async with semaphore:
            return await aw

    return await asyncio.gather(*(one(aw) for aw in aws), return_exceptions=True)


async def calls_everything_first(calls, *, limit):
    """Makes every call up front, then bounds only the awaits: work a call started is not held back."""
    return await bounded_awaitables([call() for call in calls], limit=limit)


def test_bounded_gather_on_awaitables_fails_with_a_message_about_calls():
    result = run_check("03.bounded_gather", {"bounded_gather": bounded_awaitables})
    assert result.status == "failed" and "zero-argument functions" in result.message, result


def test_bounded_gather_that_makes_every_call_first_fails():
    result = run_check("03.bounded_gather", {"bounded_gather": calls_everything_first})
    assert result.status == "failed" and "inside `async with semaphore:`" in result.message, result


def test_the_package_bounded_gather_makes_a_call_only_inside_a_slot():
    running = peak = 0

    def call(i):
        nonlocal running, peak
        running += 1
        peak = max(peak, running)

        async def work():
            nonlocal running
            await asyncio.sleep(0.01)
            running -= 1
            return i
        return asyncio.ensure_future(work())     # starts at once, as a task does

    async def main():
        return await fanout.bounded_gather([lambda i=i: call(i) for i in range(10)], limit=3)

    assert asyncio.run(main()) == list(range(10))
    assert peak == 3


# -- with_retries: timeouts are transient, so the default retries them ---------------------------

def test_with_retries_retries_a_timeout_by_default():
    calls = 0

    async def slow_then_ok():
        nonlocal calls
        calls += 1
        if calls == 1:
            raise fanout.UpstreamTimeout("prices", "took longer than 0.5 s")
        return "ok"

    async def no_wait(_: float) -> None:
        return None

    assert asyncio.run(fanout.with_retries(slow_then_ok, sleep=no_wait)) == "ok" and calls == 2


async def old_default(call, *, attempts=3, base_delay=0.05, retry_on=(fanout.UpstreamUnavailable,),
                      sleep=asyncio.sleep):
    for attempt in range(attempts):
        try:
            return await call()
        except retry_on:
            if attempt == attempts - 1:
                raise
            await sleep(base_delay * 2**attempt)


def test_the_check_rejects_a_default_that_does_not_retry_timeouts():
    result = run_check("03.with_retries", {"with_retries": old_default})
    assert result.status == "failed" and "timeout is transient" in result.message, result


@pytest.mark.anyio
async def test_the_price_route_spends_one_deadline_on_a_slow_service():
    """The route keeps its latency bound: it retries 503s, not a timeout that already used the deadline."""
    hang = Behaviour(latency=5.0, jitter=0.0)
    app = create_app(Settings.ephemeral(upstream_timeout=0.2).with_behaviour(prices=hang), stage=3)
    async with LifespanManager(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            r = await client.get("/books/5/price")
        calls = app.state.upstream_apps["prices"].state.stats.total
    assert r.status_code == 504 and calls == 1


# -- lessons 00-03: pacing, stated time, tiered hints ------------------------------------------

import re  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import nbformat  # noqa: E402

from authoring.pacing import pace  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
LESSONS = sorted((ROOT / "solutions").glob("0[0-3]_*.ipynb"))


def cells(path: Path) -> list:
    return nbformat.read(path, as_version=4).cells


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_reading_stretches_are_bounded_and_the_stated_time_is_the_estimate(path):
    lesson = pace(path)
    assert not lesson.too_long(), lesson.too_long()
    row = re.search(r"\| \*\*Time\*\* \|([^\n]*)\|", cells(path)[1].source).group(1)
    assert sum(int(m) for m in re.findall(r"(\d+)\s*min", row)) == lesson.estimate, row


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_every_exercise_has_three_hints_that_climb_and_leave_gaps(path):
    nb = cells(path)
    for i, cell in enumerate(nb):
        if not any(t.startswith("exercise:") for t in cell.metadata.get("tags", [])):
            continue
        text = next(c.source for c in reversed(nb[:i]) if c.cell_type == "markdown")
        for n in (1, 2, 3):
            assert f"<summary>Hint {n}" in text, (path.name, i, n)
        third = text[text.index("<summary>Hint 3"):]
        assert "..." in third, f"{path.name} cell {i}: hint 3 should show the shape with gaps, not the answer"


# -- lesson 01: what nest_asyncio2 really changes (facts of the installed version) --------------

NEST_FACTS = """
import asyncio, threading
import nest_asyncio2
seen = {}
def other_thread():
    loop = asyncio.new_event_loop()
    async def probe():
        seen["patched"] = bool(getattr(asyncio.get_running_loop(), "_nest_patched", False))
        seen["py_task"] = type(asyncio.current_task()) is asyncio.tasks._PyTask
    try:
        loop.run_until_complete(probe())
    finally:
        loop.close()
loop = asyncio.new_event_loop()
nest_asyncio2.apply(loop)
t = threading.Thread(target=other_thread); t.start(); t.join()
print(seen["patched"], seen["py_task"], asyncio.Task is asyncio.tasks._PyTask,
      type(loop).run_until_complete.__module__)
loop.close()
"""


def test_nest_asyncio2_patches_the_whole_process_as_lesson_01_says():
    out = subprocess.run([sys.executable, "-c", NEST_FACTS], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", "True", "True", "nest_asyncio2"], out


def test_lesson_01_no_longer_blames_the_scheduling_step_alone():
    text = "\n".join(c.source for c in cells(ROOT / "solutions/01_async_fundamentals.ipynb"))
    assert "runs the loop's scheduling step in Python" not in text
    assert "the whole process, not one loop" in text and "asyncio.Task" in text
    assert "asyncio.TaskGroup()" in text and "except*" in text
    assert "Task exception was never retrieved" in text and "add_done_callback" in text


# -- lesson 02: two thread pools, and no unexplained trickle --------------------------------------

def test_to_thread_and_def_endpoints_use_different_pools_of_the_sizes_lesson_02_prints():
    import os

    import anyio.to_thread

    async def sizes():
        await asyncio.to_thread(int)
        executor = asyncio.get_running_loop()._default_executor
        return executor._max_workers, anyio.to_thread.current_default_thread_limiter().total_tokens

    assert asyncio.run(sizes()) == (min(32, (os.cpu_count() or 1) + 4), 40)
    text = "\n".join(c.source for c in cells(ROOT / "solutions/02_first_fastapi_app.ipynb"))
    assert "min(32, cpu_count + 4)" in text and "/thread-pools" in text
    assert "trickle" not in text
