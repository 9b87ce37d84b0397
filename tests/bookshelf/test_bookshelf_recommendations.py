"""The capstone endpoint (lesson 09): ranking, the shared limit, single flight, the cache, the deadline, logs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from bookshelf import Settings, create_app
from bookshelf.models import Status
from bookshelf.recommendations import add_recommendations
from labkit.exercises.lesson09 import SHELF, FakeRatings, expected_items

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def running(shelf: tuple[int, ...] = SHELF, **options: Any) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = add_recommendations(create_app(Settings.ephemeral(), stage=6), **options)
    async with LifespanManager(app, startup_timeout=10, shutdown_timeout=10):
        for book_id in shelf:
            await app.state.shelf.add(book_id, Status.read, "")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bookshelf.test") as client:
            yield app, client


@pytest.fixture
def lines(capture_logs):
    return capture_logs("bookshelf.recommendations")


async def test_ranking_with_the_real_ratings_service() -> None:
    async with running(candidates=6) as (app, client):
        body = (await client.get("/recommendations")).json()
        stats = app.state.upstream_apps["ratings"].state.stats
    ids = [item["book_id"] for item in body["items"]]
    assert len(ids) == 6 and not set(ids) & set(SHELF)
    assert body["partial"] is False and body["missing"] == []
    ratings = [item["rating"] for item in body["items"]]
    assert ratings == sorted(ratings, reverse=True)
    assert sorted(stats.calls) == sorted(ids) and stats.max_in_flight <= 4


async def test_empty_shelf_recommends_nothing() -> None:
    async with running(shelf=()) as (app, client):
        r = await client.get("/recommendations")
    assert r.status_code == 200 and r.json() == {"items": [], "partial": False, "missing": []}


async def test_crowd_fetches_each_book_once_within_the_limit_then_uses_the_cache(lines) -> None:
    async with running(limit=3, candidates=8) as (app, client):
        fake = app.state.upstreams = FakeRatings(app.state.upstreams, delay=0.02)
        want = expected_items(app.state.books, SHELF, 8, {b.id: FakeRatings.average(b.id) for b in app.state.books})
        responses = await asyncio.gather(*(client.get("/recommendations", headers={"X-Request-ID": f"r{i}"})
                                           for i in range(20)))
        again = await client.get("/recommendations")
    bodies = [r.json() for r in responses]
    assert all(body == bodies[0] for body in bodies) and again.json() == bodies[0]
    assert [i["book_id"] for i in bodies[0]["items"]] == [i["book_id"] for i in want]
    assert set(fake.calls.values()) == {1} and len(fake.calls) == 8
    assert fake.max_in_flight == 3
    ids = {r.request_id for r in lines.records}
    assert {f"r{i}" for i in range(20)} <= ids and "-" not in ids
    assert again.headers["X-Request-ID"] in ids


async def test_deadline_answers_partial_and_recovers() -> None:
    async with running(limit=4, deadline=0.3, candidates=8) as (app, client):
        real = app.state.upstreams
        fake = app.state.upstreams = FakeRatings(real, hang={2, 3})
        started = time.perf_counter()
        body = (await client.get("/recommendations")).json()
        took = time.perf_counter() - started
        assert body["partial"] is True and body["missing"] == [2, 3]
        assert [i["rating"] for i in body["items"][-2:]] == [None, None]
        assert took < 2.3
        fake.release.set()
        while fake.in_flight:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0)
        later = (await client.get("/recommendations")).json()
    assert later["partial"] is False and fake.calls[2] == 1 and fake.calls[3] == 1   # the fetch was not cancelled


async def test_failures_are_not_cached() -> None:
    class Failing(FakeRatings):
        fail = True

        async def rating(self, book_id: int) -> Any:
            if self.fail:
                self.calls[book_id] += 1
                from bookshelf.fanout import UpstreamUnavailable
                raise UpstreamUnavailable("ratings", "answered HTTP 503")
            return await super().rating(book_id)

    async with running(candidates=4) as (app, client):
        fake = app.state.upstreams = Failing(app.state.upstreams)
        first = (await client.get("/recommendations")).json()
        fake.fail = False
        second = (await client.get("/recommendations")).json()
    assert first["partial"] is True and len(first["missing"]) == 4
    assert second["partial"] is False and second["missing"] == []
