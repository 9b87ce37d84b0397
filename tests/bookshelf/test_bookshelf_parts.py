"""The app's replaceable parts: create_app(parts=...) swaps in another implementation, and the app uses it."""

from __future__ import annotations

import httpx
import pytest
from asgi_lifespan import LifespanManager

from bookshelf import Behaviour, Settings, create_app
from bookshelf.app import default_parts
from bookshelf.fanout import fetch_details_sequential
from bookshelf.routes.details import PRICE_ATTEMPTS

pytestmark = pytest.mark.anyio


async def call(app, path: str) -> httpx.Response:
    async with LifespanManager(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            return await client.get(path)


async def test_the_details_route_runs_the_fetch_details_part() -> None:
    seen = []

    async def mine(upstreams, book):
        seen.append(book.id)
        return await fetch_details_sequential(upstreams, book)

    r = await call(create_app(Settings.ephemeral(), stage=3, parts={"fetch_details": mine}), "/books/2/details")
    assert r.status_code == 200 and seen == [2]


async def test_the_price_route_retries_through_the_with_retries_part() -> None:
    asked = []

    async def recording(call, *, attempts: int, base_delay: float):  # noqa: ANN001
        asked.append(attempts)
        return await call()

    r = await call(create_app(Settings.ephemeral(), stage=3, parts={"with_retries": recording}), "/books/2/price")
    assert r.status_code == 200 and asked == [PRICE_ATTEMPTS]


async def test_a_failing_price_service_is_asked_again_before_the_route_gives_up() -> None:
    app = create_app(Settings.ephemeral().with_behaviour(prices=Behaviour(latency=0.0, jitter=0.0, failure_rate=1.0)),
                     stage=3)
    async with LifespanManager(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            r = await client.get("/books/5/price")
        calls = app.state.upstream_apps["prices"].state.stats.total
    assert r.status_code == 503 and calls == PRICE_ATTEMPTS


def test_unknown_parts_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"unknown part\(s\) \['fetch_detail'\]"):
        create_app(Settings.ephemeral(), stage=3, parts={"fetch_detail": fetch_details_sequential})
    assert set(default_parts()) >= {"fetch_details", "with_retries"}


async def test_the_shutdown_awaits_the_refresher_stop_part() -> None:
    stopped = []

    async def mine(self, drain: float = 2.0) -> None:
        stopped.append(drain)
        for task in self._tasks:
            task.cancel()

    app = create_app(Settings.ephemeral(), stage=6, parts={"refresher_stop": mine})
    async with LifespanManager(app):
        assert app.state.refresher.stop.__func__ is mine
    assert stopped == [2.0]
