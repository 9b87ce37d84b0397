"""The app's replaceable parts: create_app(parts=...) swaps in another implementation, and the app uses it."""

from __future__ import annotations

import httpx
import pytest
from asgi_lifespan import LifespanManager

from bookshelf import Behaviour, Settings, create_app
from bookshelf.app import default_parts
from bookshelf.db import add_to_shelf, read_entry
from bookshelf.fanout import fetch_details_sequential
from bookshelf.routes.details import PRICE_ATTEMPTS
from labkit.standins import add_as_want_to_read, move_nothing, search_exact_case

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

    async def recording(call, *, attempts: int, base_delay: float, retry_on=()):  # noqa: ANN001
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


    assert set(default_parts()) >= {"fetch_details", "with_retries", "search_titles", "add_to_shelf",
                                    "move_between_lists", "offload"}


# -- lesson 04: the shelf and the title search ------------------------------------------------------

async def test_the_titles_route_runs_the_search_titles_part() -> None:
    async def mine(db, text: str) -> list[dict]:  # noqa: ANN001
        return [{"id": 1, "title": f"searched {text}"}]

    r = await call(create_app(Settings.ephemeral(), stage=4, parts={"search_titles": mine}), "/titles?contains=x")
    assert r.status_code == 200 and r.json() == [{"id": 1, "title": "searched x"}]


async def test_post_and_patch_shelf_run_the_add_and_move_parts() -> None:
    seen: list[tuple[str, object]] = []

    async def add(db, book_id: int, status, note: str):  # noqa: ANN001
        seen.append(("add", book_id))
        return await add_as_want_to_read(db, book_id, status, note)

    async def move(db, moves: dict):  # noqa: ANN001
        seen.append(("move", {k: v.value for k, v in moves.items()}))
        return [await read_entry(db.conn, book_id) for book_id in moves]

    app = create_app(Settings.ephemeral(), stage=4, parts={"add_to_shelf": add, "move_between_lists": move})
    async with LifespanManager(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            assert (await client.post("/shelf", json={"book_id": 3})).status_code == 201
            r = await client.patch("/shelf", json={"moves": [{"book_id": 3, "status": "read"}]})
            assert r.status_code == 200 and [e["book_id"] for e in r.json()] == [3]
            app.state.parts["add_to_shelf"] = add_to_shelf   # swapped while the app runs: used from now on
            assert (await client.post("/shelf", json={"book_id": 3})).status_code == 409
    assert seen == [("add", 3), ("move", {3: "read"})]


async def test_the_stand_ins_do_less_and_never_answer_500() -> None:
    app = create_app(Settings.ephemeral(), stage=4, parts={"add_to_shelf": add_as_want_to_read,
                                                             "move_between_lists": move_nothing,
                                                             "search_titles": search_exact_case})
    async with LifespanManager(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            first = await client.post("/shelf", json={"book_id": 7, "note": "first"})
            again = await client.post("/shelf", json={"book_id": 7, "note": "second"})
            unknown = await client.post("/shelf", json={"book_id": 999_999})
            moved = await client.patch("/shelf", json={"moves": [{"book_id": 7, "status": "read"}]})
            missing = await client.patch("/shelf", json={"moves": [{"book_id": 8, "status": "read"}]})
            lower = await client.get("/titles", params={"contains": "pride"})
            upper = await client.get("/titles", params={"contains": "Pride"})
    assert (first.status_code, again.status_code, unknown.status_code) == (201, 409, 404)
    assert first.json()["note"] == "" and first.json()["status"] == "want_to_read", "the stand-in drops the note"
    assert moved.status_code == 200 and moved.json()[0]["status"] == "want_to_read"
    assert missing.status_code == 404
    assert lower.json() == [] and [b["id"] for b in upper.json()] == [2]


# -- lesson 05: CPU work through the offload part ----------------------------------------------------

async def test_the_similar_route_runs_the_offload_part() -> None:
    used: list[str] = []

    async def mine(fn, *args):  # noqa: ANN001
        used.append(fn.__name__)
        return fn(*args)

    r = await call(create_app(Settings.ephemeral(), stage=5, parts={"offload": mine}), "/books/2/similar?limit=2")
    assert r.status_code == 200 and len(r.json()) == 2 and used == ["similar_books"]
