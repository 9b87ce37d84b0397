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
