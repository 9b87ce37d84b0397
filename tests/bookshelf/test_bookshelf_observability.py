"""Request ids and JSON errors (lesson 07): ids reach every log line and header, 500s leak nothing."""

from __future__ import annotations

import asyncio
import logging
import re

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import BackgroundTasks, FastAPI, HTTPException

from bookshelf import Settings, create_app
from bookshelf.observability import (GENERIC_ERROR, REQUEST_ID_HEADER, instrument, request_id,
                                     valid_request_id)

pytestmark = pytest.mark.anyio


@pytest.fixture
def logs(capture_logs):
    return capture_logs("bookshelf")


def demo_app() -> FastAPI:
    app = FastAPI()
    log = logging.getLogger("bookshelf.test")

    @app.get("/work/{n}")
    async def work(n: int, background: BackgroundTasks) -> dict[str, str]:
        log.info("start %d", n)
        await asyncio.sleep(0.01 * (n % 3))

        async def later() -> None:
            log.info("background %d", n)

        background.add_task(later)
        return {"request_id": request_id.get()}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret at /srv/app/config.py")

    @app.get("/missing")
    async def missing() -> None:
        raise HTTPException(404, "no such thing")

    return instrument(app)


def client_for(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


def test_valid_request_ids():
    assert valid_request_id("abc-123_x.y")
    for bad in (None, "", "a" * 65, "with space", "semi;colon", "é"):
        assert not valid_request_id(bad)


async def test_every_line_of_concurrent_requests_carries_its_own_id(logs):
    async with client_for(demo_app()) as client:
        responses = await asyncio.gather(*(client.get(f"/work/{n}", headers={REQUEST_ID_HEADER: f"req-{n}"})
                                           for n in range(20)))
    for n, r in enumerate(responses):
        assert r.headers[REQUEST_ID_HEADER] == r.json()["request_id"] == f"req-{n}"
    lines = [(rec.request_id, rec.getMessage()) for rec in logs.records]
    for n in range(20):
        mine = [msg for rid, msg in lines if rid == f"req-{n}"]
        assert f"start {n}" in mine and f"background {n}" in mine
        assert any(msg.startswith(f"GET /work/{n} -> 200") for msg in mine)
    assert all(rid != "-" for rid, _ in lines)


async def test_invalid_or_missing_ids_are_replaced():
    async with client_for(demo_app()) as client:
        for headers in ({}, {REQUEST_ID_HEADER: "x" * 100}, {REQUEST_ID_HEADER: "<script>"}):
            r = await client.get("/work/1", headers=headers)
            assert re.fullmatch(r"[0-9a-f]{32}", r.headers[REQUEST_ID_HEADER])
            assert r.json()["request_id"] == r.headers[REQUEST_ID_HEADER]
    assert request_id.get() == "-"


async def test_unexpected_errors_are_generic_json_with_the_id_and_logged(logs):
    async with client_for(demo_app()) as client:
        r = await client.get("/boom", headers={REQUEST_ID_HEADER: "boom-1"})
        assert r.status_code == 500
        assert r.json() == {"error": GENERIC_ERROR, "request_id": "boom-1"}
        assert r.headers[REQUEST_ID_HEADER] == "boom-1"
        assert "secret" not in r.text and "Traceback" not in r.text
        missing = await client.get("/missing")
        assert missing.status_code == 404 and missing.json() == {"detail": "no such thing"}
    errors = [rec for rec in logs.records if rec.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].request_id == "boom-1"
    assert "secret at /srv/app/config.py" in logging.Formatter().format(errors[0])


async def test_instrument_is_idempotent_and_the_bookshelf_keeps_working():
    app = instrument(instrument(create_app(Settings.ephemeral(), stage=6)))
    assert sum(m.cls.__name__ == "RequestIdMiddleware" for m in app.user_middleware) == 1
    async with LifespanManager(app, startup_timeout=10, shutdown_timeout=10), client_for(app) as client:
        r = await client.get("/books/1/details", headers={REQUEST_ID_HEADER: "shelf-1"})
        assert r.status_code == 200 and r.headers[REQUEST_ID_HEADER] == "shelf-1"
        r = await client.get("/jobs/99")
        assert r.status_code == 404 and r.json() == {"detail": "job 99 not found"}
