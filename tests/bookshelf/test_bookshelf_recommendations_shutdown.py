"""The capstone endpoint at shutdown: rating fetches still running (past the request's deadline) are cancelled
and awaited before the app closes its HTTP client, so none outlives the app."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from asgi_lifespan import LifespanManager

from bookshelf import Settings, create_app
from bookshelf.models import Status
from bookshelf.recommendations import add_recommendations
from labkit.exercises.lesson09 import SHELF, FakeRatings

pytestmark = pytest.mark.anyio


async def test_fetches_still_running_are_cancelled_at_shutdown() -> None:
    app = add_recommendations(create_app(Settings.ephemeral(), stage=6), limit=4, deadline=0.1, candidates=8)
    before = asyncio.all_tasks()
    async with LifespanManager(app, startup_timeout=10, shutdown_timeout=10):
        for book_id in SHELF:
            await app.state.shelf.add(book_id, Status.read, "")
        fake = app.state.upstreams = FakeRatings(app.state.upstreams, hang={b.id for b in app.state.books})
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bookshelf.test") as client:
            body = (await client.get("/recommendations")).json()
        assert body["partial"] is True and len(body["missing"]) == 8
        assert fake.in_flight == 4          # the limit: four calls hang, four more wait for the semaphore
    await asyncio.sleep(0)
    left = [t for t in asyncio.all_tasks() - before if not t.done()]
    for task in left:
        task.cancel()
    await asyncio.gather(*left, return_exceptions=True)
    assert not left, f"still running after shutdown: {[t.get_name() for t in left]}"
    assert fake.in_flight == 0
