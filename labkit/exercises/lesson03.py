"""Lesson 03 (Calling other services concurrently): checks of the three exercises.

The checks run the course's simulated services in-process (``httpx.ASGITransport``, no sockets) and
read what the services saw: requests in flight at once, calls, failures. Failures and timeouts are
forced (``failure_rate=1.0``, a latency far beyond the deadline), so no check depends on luck, and
the backoff delays are read from an injected ``sleep`` rather than from a clock.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from ..checks import expect, exercise, same

__all__ = ["check_fetch_details", "check_with_retries", "check_bounded_gather", "CountingTransport"]


class CountingTransport(httpx.AsyncBaseTransport):
    """Wraps a transport and counts the requests in flight through every wrapper sharing ``state``."""

    def __init__(self, inner: httpx.AsyncBaseTransport, state: dict[str, int]) -> None:
        self.inner = inner
        self.state = state

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.state["in_flight"] += 1
        self.state["max_in_flight"] = max(self.state["max_in_flight"], self.state["in_flight"])
        try:
            return await self.inner.handle_async_request(request)
        finally:
            self.state["in_flight"] -= 1


def _services(timeout: float = 1.0, **behaviours: Any) -> tuple[Any, dict[str, Any], dict[str, int], httpx.AsyncClient]:
    """Three simulated services mounted on one client: ``(Upstreams, apps, in-flight state, client)``."""
    from bookshelf.clients import TimedASGITransport
    from bookshelf.fanout import Upstreams
    from bookshelf.settings import UPSTREAMS, Behaviour
    from bookshelf.upstreams import make_upstream

    state = {"in_flight": 0, "max_in_flight": 0}
    apps = {name: make_upstream(name, behaviours.get(name, Behaviour(latency=0.1, jitter=0.0)), seed=3)
            for name in UPSTREAMS}
    urls = {name: f"http://{name}.check" for name in UPSTREAMS}
    # TimedASGITransport: an in-process service gets the read timeout a real connection has (see bookshelf.clients)
    mounts = {urls[name]: CountingTransport(TimedASGITransport(app=apps[name]), state) for name in UPSTREAMS}
    client = httpx.AsyncClient(mounts=mounts, timeout=httpx.Timeout(10.0))
    return Upstreams(client, urls, timeout), apps, state, client


def _book() -> Any:
    from bookshelf.models import Book

    return Book(id=7, title="A Check of Concurrency", author="Lesson 03", year=2024, language="en",
                subjects=["testing"])


# -- 03.fetch_details ------------------------------------------------------------------------

@exercise("03.fetch_details", target="fetch_details", points=3, timeout=30)
async def check_fetch_details(fetch_details: Callable[[Any, Any], Awaitable[Any]]) -> None:
    """All three services in flight at once; a failing one and a hanging one each degrade alone."""
    from bookshelf import fanout
    from bookshelf.models import BookDetails
    from bookshelf.settings import Behaviour

    book = _book()
    upstreams, apps, state, client = _services()
    async with client:
        expected = await fanout.fetch_details_sequential(upstreams, book)   # the lesson's given version
        for app in apps.values():
            app.state.stats.calls.clear()
        state["max_in_flight"] = 0

        details = await fetch_details(upstreams, book)
        expect(isinstance(details, BookDetails),
               f"fetch_details should return a BookDetails, got {type(details).__name__}")
        calls = {name: app.state.stats.total for name, app in apps.items()}
        expect(all(n == 1 for n in calls.values()),
               f"each service should be asked once per book; they were asked {calls}")
        expect(state["max_in_flight"] == 3,
               f"at most {state['max_in_flight']} service call(s) were in flight at the same time; expected "
               "all 3: create the three coroutines first and await them together with asyncio.gather")
        expect(same(details.model_dump(), expected.model_dump()),
               f"with every service up, expected {expected.model_dump()!r}, got {details.model_dump()!r}")

        apps["prices"].state.behaviour = Behaviour(latency=0.05, jitter=0.0, failure_rate=1.0)
        details = await fetch_details(upstreams, book)
        expect(isinstance(details, BookDetails),
               f"fetch_details should return a BookDetails, got {type(details).__name__}")
        expect(apps["prices"].state.stats.failures >= 1, "the prices service was not asked")
        expect(details.price is None, f"with the prices service failing, price should be None, got {details.price!r}")
        expect(set(details.degraded) == {"prices"},
               f"with only the prices service failing, degraded should name just 'prices', got {details.degraded!r}: "
               "use gather(..., return_exceptions=True) and record each UpstreamError's reason")
        expect(details.rating == expected.rating and details.cover_url == expected.cover_url,
               "one failing service must not cost the others' answers: rating and cover_url should still be "
               f"{expected.rating!r} and {expected.cover_url!r}")

        apps["prices"].state.behaviour = Behaviour(latency=0.1, jitter=0.0)
        apps["covers"].state.behaviour = Behaviour(latency=60.0, jitter=0.0)
        started = time.perf_counter()
        details = await fetch_details(upstreams, book)
        took = time.perf_counter() - started
        expect(isinstance(details, BookDetails),
               f"fetch_details should return a BookDetails, got {type(details).__name__}")
        expect(took < upstreams.timeout + 3.0,
               f"with the covers service hanging, fetch_details took {took:.1f} s; the deadline per call is "
               f"{upstreams.timeout:g} s: call the services through `upstreams` (their calls carry the deadline)")
        expect(set(details.degraded) == {"covers"} and details.cover_url == fanout.PLACEHOLDER_COVER,
               "with the covers service hanging, cover_url should be PLACEHOLDER_COVER and degraded should "
               f"name just 'covers'; got cover_url={details.cover_url!r}, degraded={details.degraded!r}")
        expect(details.rating == expected.rating and details.price == expected.price,
               "a hanging covers service must not cost the rating and the price")
    await _check_fetch_details_in_the_app(fetch_details)


async def _check_fetch_details_in_the_app(fetch_details: Callable[[Any, Any], Awaitable[Any]]) -> None:
    """The same function serving GET /books/{id}/details in the course's app, called over real HTTP."""
    from bookshelf import Settings, create_app
    from bookshelf.settings import UPSTREAMS, Behaviour

    from ..serving import serve

    quick = {name: Behaviour(latency=0.02, jitter=0.0) for name in UPSTREAMS}
    app = create_app(Settings.ephemeral(upstream_timeout=0.5).with_behaviour(**quick), stage=3)
    app.state.fetch_details = fetch_details
    server = serve(app, name="check-03.fetch_details")
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            r = await client.get("/books/1/details")
            expect(r.status_code == 200 and r.json().get("degraded") == {},
                   f"served in the app, GET /books/1/details answered {r.status_code} {r.text[:200]}; expected 200 "
                   "with degraded {}")
            app.state.upstream_apps["prices"].state.behaviour = Behaviour(latency=0.01, jitter=0.0, failure_rate=1.0)
            r = await client.get("/books/1/details")
            body = r.json() if r.status_code == 200 else {}
            expect(r.status_code == 200 and set(body.get("degraded", {})) == {"prices"} and body.get("price") is None,
                   f"served in the app with the prices service down, GET /books/1/details answered {r.status_code} "
                   f"{r.text[:200]}; expected 200 with the price missing and 'prices' in degraded")
    finally:
        server.stop()


# -- 03.with_retries -------------------------------------------------------------------------

class _Flaky:
    """An async call that raises ``errors`` one by one, then returns ``"ok"``; counts its calls."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0
        self.raised: list[BaseException] = []

    async def __call__(self) -> str:
        self.calls += 1
        await asyncio.sleep(0)
        if self.errors:
            error = self.errors.pop(0)
            self.raised.append(error)
            raise error
        return "ok"


class _SleepRecorder:
    """A stand-in for ``asyncio.sleep`` that records the delays and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        await asyncio.sleep(0)


def _growing(delays: list[float], base: float) -> bool:
    return (bool(delays) and base * 0.5 <= delays[0] <= base * 2
            and all(b >= a * 1.5 for a, b in zip(delays, delays[1:])))


@exercise("03.with_retries", target="with_retries", points=2, timeout=30)
async def check_with_retries(with_retries: Callable[..., Awaitable[Any]]) -> None:
    """Counts attempts, backs off exponentially, re-raises after the last, never retries a 404."""
    from bookshelf.fanout import UpstreamError, UpstreamTimeout, UpstreamUnavailable
    from bookshelf.settings import Behaviour

    def unavailable(n: int) -> UpstreamUnavailable:
        return UpstreamUnavailable("prices", f"answered HTTP 503 (#{n})")

    base = 0.01
    flaky, sleep = _Flaky(), _SleepRecorder()
    result = await with_retries(flaky, attempts=3, base_delay=base, sleep=sleep)
    expect(same(result, "ok"), f"with_retries should return what call() returns, got {result!r}")
    expect(flaky.calls == 1 and not sleep.delays,
           f"a call that succeeds at once was made {flaky.calls} time(s) with waits {sleep.delays}; expected once, no wait")

    flaky, sleep = _Flaky(unavailable(1), unavailable(2)), _SleepRecorder()
    result = await with_retries(flaky, attempts=3, base_delay=base, sleep=sleep)
    expect(same(result, "ok"), f"after two transient failures the third attempt succeeds; got {result!r}")
    expect(flaky.calls == 3, f"two failures then success should take 3 calls, took {flaky.calls}")
    expect(len(sleep.delays) == 2,
           f"expected 2 waits between 3 attempts, saw {len(sleep.delays)} ({sleep.delays}): wait with "
           "`await sleep(delay)` (the `sleep` argument), not `asyncio.sleep` directly")

    flaky, sleep = _Flaky(*(unavailable(n) for n in range(1, 6))), _SleepRecorder()
    try:
        await with_retries(flaky, attempts=4, base_delay=base, sleep=sleep)
    except UpstreamUnavailable as exc:
        expect(exc is flaky.raised[-1], f"re-raise the last error after the last attempt; got {exc!r}")
    else:
        expect(False, "a call that keeps failing should raise its error after the last attempt")
    expect(flaky.calls == 4, f"attempts=4 against a call that always fails made {flaky.calls} call(s); expected 4")
    expect(len(sleep.delays) == 3,
           f"4 attempts need 3 waits (none after the last attempt); saw {len(sleep.delays)}: {sleep.delays}")
    expect(_growing(sleep.delays, base),
           f"with base_delay={base} the waits were {sleep.delays}; expected exponential backoff "
           f"({base}, {base * 2:g}, {base * 4:g}: base_delay * 2**n)")

    class NotFound(UpstreamError):
        """Like a 404: retrying cannot change the answer."""

    flaky, sleep = _Flaky(NotFound("prices", "answered HTTP 404")), _SleepRecorder()
    try:
        await with_retries(flaky, attempts=3, base_delay=base, sleep=sleep)
    except NotFound:
        pass
    else:
        expect(False, "an error that is not in retry_on (like a 404) should be raised, not swallowed")
    expect(flaky.calls == 1 and not sleep.delays,
           f"an error that is not in retry_on was retried ({flaky.calls} calls): catch only `retry_on`")

    flaky, sleep = _Flaky(UpstreamTimeout("prices", "slow")), _SleepRecorder()
    result = await with_retries(flaky, attempts=2, base_delay=base, retry_on=(UpstreamTimeout,), sleep=sleep)
    expect(same(result, "ok") and flaky.calls == 2, "with retry_on=(UpstreamTimeout,) a timeout should be retried")

    flaky, sleep = _Flaky(UpstreamTimeout("prices", "slow")), _SleepRecorder()
    try:
        result = await with_retries(flaky, attempts=2, base_delay=base, sleep=sleep)
    except UpstreamTimeout:
        result = None
    expect(same(result, "ok") and flaky.calls == 2,
           f"called without `retry_on`, a timeout was tried {flaky.calls} time(s): a timeout is transient, so the "
           "default `retry_on` must include it: `retry_on=(UpstreamUnavailable, UpstreamTimeout)`")

    # Against a real (simulated) service that always fails, with the real asyncio.sleep.
    upstreams, apps, _, client = _services(prices=Behaviour(latency=0.01, jitter=0.0, failure_rate=1.0))
    async with client:
        try:
            await with_retries(lambda: upstreams.price(7), attempts=3, base_delay=0.01)
        except UpstreamUnavailable:
            pass
        else:
            expect(False, "a service that always fails should end in UpstreamUnavailable after the last attempt")
    stats = apps["prices"].state.stats
    expect(stats.total == 3 and stats.failures == 3,
           f"the prices service saw {stats.total} call(s) ({stats.failures} failed); expected 3 attempts")
    await _check_with_retries_in_the_app(with_retries)


async def _check_with_retries_in_the_app(with_retries: Callable[..., Awaitable[Any]]) -> None:
    """The same function retrying GET /books/{id}/price in the course's app, called over real HTTP."""
    from bookshelf import Settings, create_app
    from bookshelf.routes.details import PRICE_ATTEMPTS
    from bookshelf.settings import Behaviour

    from ..serving import serve

    down = Behaviour(latency=0.01, jitter=0.0, failure_rate=1.0)
    app = create_app(Settings.ephemeral().with_behaviour(prices=down), stage=3, parts={"with_retries": with_retries})
    server = serve(app, name="check-03.with_retries")
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            r = await client.get("/books/3/price")
        calls = app.state.upstream_apps["prices"].state.stats.total
    finally:
        server.stop()
    expect(r.status_code == 503 and calls == PRICE_ATTEMPTS,
           f"served in the app with the prices service down, GET /books/3/price answered {r.status_code} after "
           f"{calls} call(s) to the service; expected 503 after {PRICE_ATTEMPTS} attempts")


# -- 03.bounded_gather -----------------------------------------------------------------------

@exercise("03.bounded_gather", target="bounded_gather", points=2, timeout=30)
async def check_bounded_gather(bounded_gather: Callable[..., Awaitable[list[Any]]]) -> None:
    """Calls made only inside a slot, exactly ``limit`` in flight, input order, exceptions in place."""
    import functools

    from bookshelf import fanout
    from bookshelf.settings import Behaviour

    expect(same(await bounded_gather([], limit=3), []), "bounded_gather([], limit=3) should return []")

    limit, n = 4, 14
    upstreams, apps, _, client = _services(timeout=5.0, ratings=Behaviour(latency=0.05, jitter=0.04))
    stats = apps["ratings"].state.stats
    ids = list(range(1, n + 1))
    started = {"now": 0, "peak": 0}

    def starter(i: int) -> Callable[[], Awaitable[Any]]:
        """A zero-argument call that starts one request *when it is called*, as a task does."""
        async def fetch() -> Any:
            try:
                return await fanout.fetch_json(client, upstreams.urls["ratings"] + f"/ratings/{i}",
                                               upstream="ratings", timeout=5.0)
            finally:
                started["now"] -= 1

        def call() -> Awaitable[Any]:
            started["now"] += 1
            started["peak"] = max(started["peak"], started["now"])
            return asyncio.ensure_future(fetch())
        return call

    async with client:
        results = await bounded_gather([starter(i) for i in ids], limit=limit)
    expect(isinstance(results, list) and len(results) == n,
           f"expected a list of {n} results, got {type(results).__name__} of length {len(results)}")
    bad = next((r for r in results if isinstance(r, TypeError)), None)
    expect(bad is None,
           f"a result was {bad!r}: `bounded_gather` receives zero-argument functions, not awaitables. Call each "
           "one, `call()`, once it holds a slot, and await what it returns")
    expect(started["peak"] <= limit,
           f"{started['peak']} calls had been made before the first finished, with limit={limit}: make each call "
           "(`call()`) inside `async with semaphore:`. A call may start its work at once (a task does), and no "
           "limit can hold back work that has already started")
    expect(stats.total == n, f"the service saw {stats.total} call(s) for {n} calls")
    expect(stats.max_in_flight <= limit,
           f"the service saw {stats.max_in_flight} calls in flight at once with limit={limit}: hold an "
           "asyncio.Semaphore(limit) around each call")
    expect(stats.max_in_flight == limit,
           f"the service saw at most {stats.max_in_flight} call(s) in flight with limit={limit}: start them "
           "all with asyncio.gather and let the semaphore hold back the rest")
    got = [r.get("book_id") if isinstance(r, dict) else r for r in results]
    expect(same(got, ids), f"results should be in the order of the input ({ids}), got {got}")

    async def value(i: int) -> int:
        await asyncio.sleep(0.01)
        return i

    async def boom() -> int:
        await asyncio.sleep(0.01)
        raise ValueError("boom")

    results = await bounded_gather([functools.partial(value, 0), functools.partial(value, 1), boom,
                                    functools.partial(value, 3)], limit=2)
    expect(len(results) == 4 and isinstance(results[2], ValueError)
           and same([results[i] for i in (0, 1, 3)], [0, 1, 3]),
           f"a failing call should leave its exception in its place, like gather(..., "
           f"return_exceptions=True); got {results!r}")

    # A slow first call must not hold back the others: a slot freed is a slot reused at once.
    released = asyncio.Event()
    gave_up = False

    async def slow_first() -> str:
        nonlocal gave_up
        try:
            await asyncio.wait_for(released.wait(), 3.0)
        except asyncio.TimeoutError:
            gave_up = True
        return "slow"

    async def quick(i: int) -> int:
        if i == 3:
            released.set()
        await asyncio.sleep(0.005)
        return i

    results = await bounded_gather([slow_first, *(functools.partial(quick, i) for i in range(1, 5))], limit=3)
    expect(not gave_up, "with limit=3 the 4th call only started after the 1st (slow) one finished: "
                        "that is batches of `limit`. With a semaphore each finished call lets the next start")
    expect(same(results, ["slow", 1, 2, 3, 4]), f"expected ['slow', 1, 2, 3, 4], got {results!r}")
