"""The fan-out endpoint and the simulated upstream services: concurrency, degradation, 503 and 504."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from bookshelf import Behaviour, Settings
from bookshelf.fanout import PLACEHOLDER_COVER, fetch_details, fetch_details_sequential
from bookshelf.upstreams import make_upstream

pytestmark = pytest.mark.anyio
SLOW = Behaviour(latency=0.2, jitter=0.0)


async def test_details_combine_three_upstreams(client):
    details = (await client.get("/books/2/details")).json()
    assert details["book"]["title"] == "Pride and Prejudice"
    assert 0 <= details["rating"]["average"] <= 5 and details["rating"]["count"] >= 0
    assert details["price"]["currency"] == "EUR" and details["price"]["amount"] > 0
    assert details["cover_url"].endswith("/2.jpg")
    assert details["degraded"] == {}
    assert (await client.get("/books/999999/details")).status_code == 404
    assert (await client.get("/books/0/details")).status_code == 422


async def test_fan_out_takes_about_the_slowest_not_the_sum(app_client):
    settings = Settings.ephemeral().with_behaviour(ratings=SLOW, prices=SLOW, covers=SLOW)
    async with app_client(settings, stage=3) as (app, client):
        await client.get("/books/1/details")  # warm up
        t0 = time.perf_counter()
        response = await client.get("/books/1/details")
        concurrent = time.perf_counter() - t0
        book = await app.state.catalogue.get(1)
        t0 = time.perf_counter()
        sequential_details = await fetch_details_sequential(app.state.upstreams, book)
        sequential = time.perf_counter() - t0
    assert response.status_code == 200 and response.json()["degraded"] == {}
    assert sequential_details.degraded == {}
    total = 3 * SLOW.latency
    print(f"\nfan-out: concurrent {concurrent:.3f} s, sequential {sequential:.3f} s, "
          f"slowest upstream {SLOW.latency} s, sum {total:.1f} s")
    assert concurrent >= SLOW.latency
    assert concurrent < 0.6 * total, f"concurrent {concurrent:.3f} s is not well below the sum {total} s"
    assert sequential >= total


async def test_one_failing_upstream_degrades_the_answer(app_client):
    settings = Settings.ephemeral().with_behaviour(ratings=Behaviour(failure_rate=1.0))
    async with app_client(settings, stage=3) as (_, client):
        response = await client.get("/books/3/details")
    assert response.status_code == 200
    details = response.json()
    assert details["rating"] is None
    assert details["price"] is not None and details["cover_url"].endswith("/3.jpg")
    assert details["degraded"] == {"ratings": "answered HTTP 503"}


async def test_too_slow_upstream_is_cut_off_by_the_per_call_timeout(app_client):
    settings = Settings.ephemeral(upstream_timeout=0.1).with_behaviour(
        covers=Behaviour(latency=1.0, jitter=0.0), prices=Behaviour(latency=1.0, jitter=0.0))
    async with app_client(settings, stage=3) as (_, client):
        t0 = time.perf_counter()
        details = (await client.get("/books/4/details")).json()
        elapsed = time.perf_counter() - t0
        price = await client.get("/books/4/price")
    assert details["cover_url"] == PLACEHOLDER_COVER and details["price"] is None
    assert details["rating"] is not None
    assert details["degraded"] == {"covers": "no answer within 0.1 s", "prices": "no answer within 0.1 s"}
    assert elapsed < 0.8, f"the timeout did not cut the call short ({elapsed:.2f} s)"
    assert price.status_code == 504 and "prices service is too slow" in price.json()["detail"]


async def test_price_without_fallback_is_503_when_the_service_fails_or_is_unreachable(app_client):
    settings = Settings.ephemeral().with_behaviour(prices=Behaviour(failure_rate=1.0))
    async with app_client(settings, stage=3) as (_, client):
        down = await client.get("/books/5/price")
        assert (await client.get("/books/999999/price")).status_code == 404
    assert down.status_code == 503 and "prices service is unavailable" in down.json()["detail"]

    unreachable = Settings.ephemeral(prices_url="http://127.0.0.1:9")  # nothing listens on port 9
    async with app_client(unreachable, stage=3) as (_, client):
        response = await client.get("/books/5/price")
        details = (await client.get("/books/5/details")).json()
    assert response.status_code == 503 and "unreachable" in response.json()["detail"]
    assert details["degraded"]["prices"].startswith("unreachable")


async def statuses(seed: int) -> list[tuple[int, int]]:
    """(book id, status) of 40 concurrent calls to a fresh ratings service that fails half the time."""
    app = make_upstream("ratings", Behaviour(latency=0, jitter=0, failure_rate=0.5), seed=seed)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://r") as c:
        results = await asyncio.gather(*(c.get(f"/ratings/{i % 5 + 1}") for i in range(40)))
    return sorted((int(r.url.path.rsplit("/", 1)[1]), r.status_code) for r in results)


async def test_simulated_upstreams_are_reproducible():
    first, second, other = await statuses(7), await statuses(7), await statuses(8)
    assert first == second  # same seed: the same calls fail, whatever order they arrived in
    assert first != other
    assert {code for _, code in first} == {200, 503}


async def test_upstream_answers_are_fixed_per_book():
    app = make_upstream("prices", Behaviour(latency=0, jitter=0))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://p") as c:
        one, again = (await c.get("/prices/9")).json(), (await c.get("/prices/9")).json()
        assert (await c.get("/prices/0")).status_code == 422
    assert one == again and app.state.stats.total == 2
    with pytest.raises(ValueError):
        make_upstream("weather")


async def test_details_function_can_be_swapped(app_client):
    calls = []

    async def traced(upstreams, book):
        calls.append(book.id)
        return await fetch_details(upstreams, book)

    async with app_client(stage=3) as (app, client):
        app.state.fetch_details = traced
        assert (await client.get("/books/6/details")).status_code == 200
    assert calls == [6]


async def test_thread_mode_serves_upstreams_over_real_http_and_stops_them(app_client, tmp_path):
    import labkit

    before = {s.name for s in labkit.running_servers()}
    async with app_client(Settings(database=tmp_path / "t.db"), stage=3) as (app, client):
        urls = app.state.upstreams.urls
        assert all(url.startswith("http://127.0.0.1:") for url in urls.values())
        details = (await client.get("/books/8/details")).json()
        assert details["degraded"] == {} and details["rating"] is not None
    assert {s.name for s in labkit.running_servers()} == before
