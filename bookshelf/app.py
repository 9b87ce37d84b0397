"""The app factory: ``create_app(settings, stage=N)`` builds the Bookshelf app as it stands after lesson N.

| stage | adds |
| --- | --- |
| 3 | catalogue (in memory), ``/books/{id}/details`` fan-out, ``/books/{id}/price``; the shared HTTP client |
| 4 | the SQLite database (aiosqlite, WAL): catalogue from the ``books`` table, ``/titles``, ``/shelf`` CRUD |
| 5 | ``/books/{id}/similar`` (CPU work in a thread), ``/health/loop`` (event-loop lag monitor) |
| 6 | ``/jobs/refresh-ratings`` (queue + worker tasks), cached ratings as the details fallback |

The lifespan owns every shared resource and closes each of them on shutdown, in reverse order.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from types import MethodType
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from .catalogue import MemoryCatalogue, load_books
from .clients import TimedASGITransport, make_client
from .db import Shelf, SqliteCatalogue, add_to_shelf, connect, move_between_lists, search_titles, seed_books
from .docs import self_host_docs
from .errors import install_error_handlers
from .fanout import UpstreamTimeout, UpstreamUnavailable, Upstreams, fetch_details, with_retries
from .jobs import RatingsRefresher
from .monitor import LagMonitor
from .offload import offload as offload_to_thread  # the routes module `offload` keeps its name
from .routes import catalogue, details, jobs, offload, shelf
from .settings import UPSTREAMS, Settings
from .threadserver import ThreadServer
from .upstreams import make_upstream

__all__ = ["create_app", "default_parts", "describe_backends", "STAGES", "LAST_STAGE", "start_upstreams"]

# uvicorn's server log (named "error" for history): a plain `uvicorn bookshelf.main:app` shows its INFO lines.
server_log = logging.getLogger("uvicorn.error")

STAGES = (3, 4, 5, 6)
LAST_STAGE = STAGES[-1]


async def start_upstreams(settings: Settings, stack: AsyncExitStack,
                          apps: dict[str, FastAPI]) -> tuple[dict[str, str], dict[str, httpx.AsyncBaseTransport]]:
    """Base URLs of the three services, starting a simulated one for each URL the settings leave empty.

    ``simulate="thread"`` serves it over real HTTP from a background thread (:class:`ThreadServer`);
    ``"inprocess"`` mounts it on the HTTP client with ``httpx.ASGITransport`` (no socket at all).
    The simulated apps are put in ``apps`` so that callers can change their behaviour or read their stats.
    """
    urls: dict[str, str] = {}
    mounts: dict[str, httpx.AsyncBaseTransport] = {}
    for name in UPSTREAMS:
        url = settings.upstream_url(name)
        if url is not None:
            urls[name] = url
            continue
        upstream = make_upstream(name, getattr(settings, name), seed=settings.seed)
        apps[name] = upstream
        if settings.simulate == "inprocess":
            urls[name] = f"http://{name}.simulated"
            mounts[urls[name]] = TimedASGITransport(app=upstream)
        else:
            server = ThreadServer(upstream, name=f"{name}-{id(stack):x}")
            await asyncio.to_thread(server.start)
            stack.push_async_callback(server.astop)
            urls[name] = server.url
    return urls, mounts


async def open_postgres(app: FastAPI, settings: Settings, books: list[Any], stack: AsyncExitStack) -> None:
    """The lifespan's database step on PostgreSQL: the pool (closed by ``stack``), the seed, catalogue and shelf."""
    from . import pg

    app.state.db = db = await pg.connect(settings.database_url or "", pool_size=settings.db_pool_size)
    server_log.info("Bookshelf database: %s (pool of %d connections per process)", db, settings.db_pool_size)
    stack.push_async_callback(db.close)
    await pg.seed_books(db, books)
    app.state.catalogue = pg.PgCatalogue(db)
    app.state.shelf = pg.PgShelf(db, parts=app.state.parts)


def describe_backends(settings: Settings, stage: int = LAST_STAGE) -> str:
    """Which database and which shared state the app uses, for the startup log (no passwords)."""
    if stage < 4:
        database = "none (catalogue in memory)"
    elif settings.database_url:
        from .pg import redact
        database = f"PostgreSQL {redact(settings.database_url)}"
    else:
        database = f"SQLite {settings.database}"
    if stage < 6:
        state = "none"
    elif settings.redis_url:
        from .shared_state import redact as redact_redis
        state = f"Redis {redact_redis(settings.redis_url)} (key prefix {settings.redis_prefix!r})"
    else:
        state = "in this process"
    return f"database {database}; shared state {state}"


def default_parts() -> dict[str, Callable[..., Any]]:
    """The app's replaceable parts, each with this package's own implementation.

    ``create_app(parts={...})`` swaps in others with the same signature: a course hands the app the parts a
    learner wrote, a test a fake. ``fetch_details`` serves ``/books/{id}/details``; ``with_retries`` retries
    the price lookup of ``/books/{id}/price`` (lesson 03). ``search_titles`` serves ``GET /titles``;
    ``add_to_shelf`` and ``move_between_lists`` are the shelf's ``POST /shelf`` and ``PATCH /shelf``
    (lesson 04). ``offload`` runs the CPU work of ``/books/{id}/similar`` (lesson 05). ``refresher_stop`` is
    the ratings refresher's ``stop(self, drain)``, which the shutdown awaits (lesson 06).
    """
    return {"fetch_details": fetch_details, "with_retries": with_retries, "search_titles": search_titles,
            "add_to_shelf": add_to_shelf, "move_between_lists": move_between_lists, "offload": offload_to_thread,
            "refresher_stop": RatingsRefresher.stop}


def create_app(settings: Settings | None = None, *, stage: int = LAST_STAGE,
               parts: Mapping[str, Callable[..., Any]] | None = None) -> FastAPI:
    """The Bookshelf app as it stands after lesson ``stage`` (3 to 6), configured by ``settings``.

    ``parts`` replaces some of the :func:`default_parts` by name.
    """
    if stage not in STAGES:
        raise ValueError(f"stage must be one of {STAGES}, not {stage!r}")
    settings = settings or Settings()
    chosen = default_parts()
    unknown = sorted(set(parts or {}) - set(chosen))
    if unknown:
        raise ValueError(f"unknown part(s) {unknown}: choose from {sorted(chosen)}")
    if settings.database_url:  # PostgreSQL: the database parts speak its SQL (unless some are given)
        from . import pg
        chosen.update(pg.PARTS)
    chosen.update(parts or {})

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            app.state.books = books = await asyncio.to_thread(load_books, settings.books_file)
            app.state.upstream_apps = {}
            urls, mounts = await start_upstreams(settings, stack, app.state.upstream_apps)
            client = make_client(timeout=settings.upstream_timeout, max_connections=settings.max_connections,
                                 max_keepalive_connections=settings.max_keepalive_connections, mounts=mounts)
            stack.push_async_callback(client.aclose)
            app.state.upstreams = upstreams = Upstreams(client, urls, settings.upstream_timeout)
            app.state.catalogue = MemoryCatalogue(books)
            app.state.rating_cache = None
            if stage >= 4 and settings.database_url:  # several processes (lesson 10): PostgreSQL, see bookshelf/pg.py
                await open_postgres(app, settings, books, stack)
            elif stage >= 4:
                app.state.db = db = await connect(settings.database)
                server_log.info("Bookshelf database: %s", settings.database)
                stack.push_async_callback(db.close)
                await seed_books(db, books)
                app.state.catalogue = SqliteCatalogue(db)
                app.state.shelf = Shelf(db, parts=app.state.parts)  # reads its parts at each call
            if stage >= 5:
                app.state.monitor = monitor = LagMonitor()
                monitor.start()
                stack.push_async_callback(monitor.stop)
            if stage >= 6 and settings.redis_url:  # job ids, queue and cache in Redis: bookshelf/shared_state.py
                from . import shared_state
                app.state.redis = redis = await shared_state.connect(settings.redis_url)
                stack.push_async_callback(redis.aclose)
                app.state.refresher = refresher = shared_state.RedisRefresher(
                    redis, upstreams, settings.workers, prefix=settings.redis_prefix, max_queued=settings.max_queued,
                    max_jobs=settings.max_jobs, max_cached=settings.max_cached_ratings, ttl=settings.rating_ttl,
                    reclaim_after=settings.reclaim_after)
                await refresher.prepare()
            elif stage >= 6:
                app.state.refresher = refresher = RatingsRefresher(
                    upstreams, settings.workers, max_queued=settings.max_queued, max_jobs=settings.max_jobs,
                    max_cached=settings.max_cached_ratings)
                app.state.rating_cache = refresher.cache
            if stage >= 6:
                refresher.stop = MethodType(chosen["refresher_stop"], refresher)  # its stop(): a replaceable part
                refresher.start()
                stack.push_async_callback(refresher.close)  # stop the workers, log what was dropped
            server_log.info("Bookshelf backends: %s", describe_backends(settings, stage))
            yield

    app = FastAPI(
        title="Bookshelf API",
        version=f"lesson {stage:02d}",
        description="A catalogue of public-domain books, your reading list, and details from "
                    "(simulated) third-party services. Built step by step in lessons 03-06.",
        lifespan=lifespan,
        max_body_size=settings.max_body_bytes,  # 413 before parsing, counted as the bytes arrive
    )
    app.state.settings = settings
    app.state.stage = stage
    app.state.lifespan = lifespan  # so a lesson can show it: labkit.listing.show(app.state.lifespan)
    app.state.parts = chosen
    app.state.fetch_details = chosen["fetch_details"]  # the details route calls this: a lesson may swap in its own

    install_error_handlers(app)  # 422 without the input, 405 with the right Allow, 503 when the DB is busy

    @app.exception_handler(UpstreamTimeout)
    async def upstream_too_slow(request: Request, exc: UpstreamTimeout) -> JSONResponse:
        return JSONResponse({"detail": f"the {exc.upstream} service is too slow: {exc.reason}"}, status_code=504)

    @app.exception_handler(UpstreamUnavailable)
    async def upstream_down(request: Request, exc: UpstreamUnavailable) -> JSONResponse:
        return JSONResponse({"detail": f"the {exc.upstream} service is unavailable: {exc.reason}"},
                            status_code=503)

    if settings.database_url:
        from .pg import UnstorableText

        @app.exception_handler(UnstorableText)
        async def unstorable_text(request: Request, exc: UnstorableText) -> JSONResponse:
            return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.get("/", tags=["about"])
    async def about(request: Request) -> dict[str, Any]:
        """What this app is and where its parts are."""
        return {"app": "bookshelf", "stage": stage, "docs": "/docs",
                "upstreams": getattr(request.app.state, "upstreams", None) and request.app.state.upstreams.urls}

    app.include_router(catalogue.router)
    app.include_router(details.router)
    if stage >= 4:
        app.include_router(catalogue.titles_router)
        app.include_router(shelf.router)
    if stage >= 5:
        app.include_router(offload.router)
    if stage >= 6:
        app.include_router(jobs.router)
    self_host_docs(app)  # Swagger UI and ReDoc without a CDN
    return app

