"""Fixtures for the Bookshelf app's tests: the app with its lifespan running, and a client for it.

Backends: a test module with ``pytestmark = pytest.mark.usefixtures("backend")`` runs each of its tests twice,
on SQLite with in-process state and on PostgreSQL with Redis (real servers from ``labkit.services``, started once
per test session, each test on a database of its own and under a Redis key prefix of its own). A test marked
``@pytest.mark.sqlite_only`` (it looks inside SQLite or the in-process refresher) runs on SQLite only.
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import replace

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


BACKENDS = ("sqlite", "postgres+redis")
INSTALL = "apt-get install -y redis-server postgresql (macOS: brew install redis postgresql)"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sqlite_only: a backend test that runs on SQLite and in-process state only")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        only = metafunc.definition.get_closest_marker("sqlite_only") is not None
        metafunc.parametrize("backend", BACKENDS[:1] if only else BACKENDS, indirect=True)


class Servers:
    """Redis and PostgreSQL for this test session (one pair per xdist worker), stopped at its end."""

    def __init__(self) -> None:
        from labkit import services

        missing = [name for name, ok in services.available().items() if not ok]
        if missing:
            pytest.skip(f"{' and '.join(missing)} not installed: {INSTALL}")
        self.redis = services.redis(name=f"bookshelf-tests-redis-{os.getpid()}")
        try:
            self.postgres = services.postgres(name=f"bookshelf-tests-postgres-{os.getpid()}",
                                              settings={"fsync": "off", "synchronous_commit": "off"})
        except BaseException:
            self.redis.stop()
            raise
        self.database_url = self.create_database("bookshelf_tests")

    def create_database(self, name: str) -> str:
        """Create the empty database ``name`` (letters, digits and ``_`` only); return its URL."""
        import asyncpg

        assert name.replace("_", "").isalnum(), name

        async def create() -> None:
            admin = await asyncpg.connect(self.postgres.url)
            try:
                await admin.execute(f'CREATE DATABASE "{name}"')
            finally:
                await admin.close()

        asyncio.run(create())
        return self.postgres.url.rsplit("/", 1)[0] + "/" + name

    def reset(self) -> None:
        """Empty the test database (its tables go: each app creates and seeds them again)."""
        import asyncpg

        async def reset() -> None:
            conn = await asyncpg.connect(self.database_url)
            try:
                await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
            finally:
                await conn.close()

        asyncio.run(reset())

    def stop(self) -> None:
        self.postgres.stop()
        self.redis.stop()


@pytest.fixture(scope="session")
def servers() -> Iterator[Servers]:
    """Real Redis and PostgreSQL servers (skips, naming the install, when one is missing)."""
    started = Servers()
    try:
        yield started
    finally:
        started.stop()


_backend: dict[str, object] = {}


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> Iterator[str]:
    """``sqlite`` or ``postgres+redis``: the backends the apps of this test run on.

    On PostgreSQL+Redis every app the test starts shares one emptied database and one new Redis key prefix.
    """
    name = request.param
    if name != "sqlite":
        servers: Servers = request.getfixturevalue("servers")
        servers.reset()
        _backend["urls"] = {"database_url": servers.database_url, "redis_url": servers.redis.url,
                            "redis_prefix": f"test-{uuid.uuid4().hex[:12]}:"}
    try:
        yield name
    finally:
        _backend.clear()


def on_backend(settings: Settings) -> Settings:
    """``settings`` moved to the current test's backend (unchanged on SQLite, or if it names its own URLs)."""
    urls = _backend.get("urls")
    if not urls or settings.database_url or settings.redis_url:
        return settings
    return replace(settings, **urls)  # type: ignore[arg-type]


@asynccontextmanager
async def running(settings: Settings | None = None, *, stage: int = 6) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The app with its lifespan started (closed on exit), and an ASGI client for it (no sockets)."""
    app = create_app(on_backend(settings or Settings.ephemeral()), stage=stage)
    async with LifespanManager(app, startup_timeout=10, shutdown_timeout=10):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bookshelf.test") as client:
            yield app, client


def _with_backend(request: pytest.FixtureRequest) -> None:
    if "backend" in request.fixturenames:
        request.getfixturevalue("backend")  # set up before the app starts


@pytest.fixture
def app_client(request: pytest.FixtureRequest) -> AppClient:
    """``async with app_client(settings, stage=N) as (app, client):`` for tests that configure the app."""
    _with_backend(request)
    return running


@pytest.fixture
async def client(request: pytest.FixtureRequest) -> AsyncIterator[httpx.AsyncClient]:
    """A client for the finished app with default test settings (in-memory database, in-process upstreams)."""
    _with_backend(request)
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
