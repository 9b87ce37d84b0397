"""Fixtures for the Bookshelf app's tests: the app with its lifespan running, and a client for it."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from bookshelf import Settings, create_app
from bookshelf.observability import RequestIdFilter


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


AppClient = Callable[..., AbstractAsyncContextManager[tuple[FastAPI, httpx.AsyncClient]]]


@asynccontextmanager
async def running(settings: Settings | None = None, *, stage: int = 6) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The app with its lifespan started (closed on exit), and an ASGI client for it (no sockets)."""
    app = create_app(settings or Settings.ephemeral(), stage=stage)
    async with LifespanManager(app, startup_timeout=10, shutdown_timeout=10):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bookshelf.test") as client:
            yield app, client


@pytest.fixture
def app_client() -> AppClient:
    """``async with app_client(settings, stage=N) as (app, client):`` for tests that configure the app."""
    return running


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    """A client for the finished app with default test settings (in-memory database, in-process upstreams)."""
    async with running() as (_, c):
        yield c


class LogRecords(logging.Handler):
    """Keeps every record it handles, stamped with the request id (lesson 07's filter)."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []
        self.addFilter(RequestIdFilter())

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def capture_logs() -> Iterator[Callable[[str], LogRecords]]:
    """``capture_logs("bookshelf")`` collects that logger's INFO records until the test ends."""
    attached: list[tuple[logging.Logger, LogRecords, int]] = []

    def attach(name: str) -> LogRecords:
        logger, handler = logging.getLogger(name), LogRecords()
        attached.append((logger, handler, logger.level))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        return handler

    try:
        yield attach
    finally:
        for logger, handler, level in reversed(attached):
            logger.removeHandler(handler)
            logger.setLevel(level)
