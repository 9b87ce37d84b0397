"""The app factory: ``create_app(settings, stage=N)`` builds the Bookshelf app as it stands after lesson N.

| stage | adds |
| --- | --- |
| 3 | catalogue (in memory), ``/books/{id}/details`` fan-out, ``/books/{id}/price``; the shared HTTP client |
| 4 | the SQLite database (aiosqlite, WAL): catalogue from the ``books`` table, ``/shelf`` CRUD |
| 5 | ``/books/{id}/similar`` (CPU work in a thread), ``/health/loop`` (event-loop lag monitor) |
| 6 | ``/jobs/refresh-ratings`` (queue + worker tasks), cached ratings as the details fallback |

The lifespan owns every shared resource and closes each of them on shutdown, in reverse order.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from labkit.serving import serve

from .catalogue import MemoryCatalogue, load_books
from .db import Shelf, SqliteCatalogue, connect, seed_books
from .docs import self_host_docs
from .fanout import UpstreamTimeout, UpstreamUnavailable, Upstreams, fetch_details
from .jobs import RatingsRefresher
from .monitor import LagMonitor
from .routes import catalogue, details, jobs, offload, shelf
from .settings import UPSTREAMS, Settings
from .upstreams import make_upstream

__all__ = ["create_app", "STAGES", "LAST_STAGE", "start_upstreams"]

STAGES = (3, 4, 5, 6)
LAST_STAGE = STAGES[-1]


class AsciiJSONResponse(JSONResponse):
    """JSON with every non-ASCII character escaped: renders even text that is not valid Unicode."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")


async def start_upstreams(settings: Settings, stack: AsyncExitStack,
                          apps: dict[str, FastAPI]) -> tuple[dict[str, str], dict[str, httpx.AsyncBaseTransport]]:
    """Base URLs of the three services, starting a simulated one for each URL the settings leave empty.

    ``simulate="thread"`` serves it over real HTTP from a background thread (``labkit.serve``);
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
            mounts[urls[name]] = httpx.ASGITransport(app=upstream)
        else:
            server = await asyncio.to_thread(serve, upstream, name=f"bookshelf-{name}-{id(stack):x}")
            stack.push_async_callback(server.astop)
            urls[name] = server.url
    return urls, mounts


def create_app(settings: Settings | None = None, *, stage: int = LAST_STAGE) -> FastAPI:
    """The Bookshelf app as it stands after lesson ``stage`` (3 to 6), configured by ``settings``."""
    if stage not in STAGES:
        raise ValueError(f"stage must be one of {STAGES}, not {stage!r}")
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            app.state.books = books = await asyncio.to_thread(load_books, settings.books_file)
            app.state.upstream_apps = {}
            urls, mounts = await start_upstreams(settings, stack, app.state.upstream_apps)
            client = httpx.AsyncClient(
                limits=httpx.Limits(max_connections=settings.max_connections,
                                    max_keepalive_connections=settings.max_keepalive_connections,
                                    keepalive_expiry=5.0),
                timeout=httpx.Timeout(settings.upstream_timeout, connect=2.0),
                mounts=mounts,
            )
            stack.push_async_callback(client.aclose)
            app.state.upstreams = upstreams = Upstreams(client, urls, settings.upstream_timeout)
            app.state.catalogue = MemoryCatalogue(books)
            app.state.rating_cache = None
            if stage >= 4:
                app.state.db = db = await connect(settings.database)
                stack.push_async_callback(db.close)
                await seed_books(db, books)
                app.state.catalogue = SqliteCatalogue(db)
                app.state.shelf = Shelf(db)
            if stage >= 5:
                app.state.monitor = monitor = LagMonitor()
                monitor.start()
                stack.push_async_callback(monitor.stop)
            if stage >= 6:
                app.state.refresher = refresher = RatingsRefresher(upstreams, settings.workers)
                app.state.rating_cache = refresher.cache
                refresher.start()
                stack.push_async_callback(refresher.stop)
            yield

    app = FastAPI(
        title="Bookshelf API",
        version=f"lesson {stage:02d}",
        description="A catalogue of public-domain books, your reading list, and details from "
                    "(simulated) third-party services. Built step by step in lessons 03-06.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.stage = stage
    app.state.lifespan = lifespan  # so a lesson can show it: bookshelf.listing.show(app.state.lifespan)
    app.state.fetch_details = fetch_details  # the details route calls this: a lesson may swap in its own

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own handler echoes the input in a UTF-8 body; a lone surrogate ("\ud800" in the
        # client's JSON) cannot be encoded and the 422 would become a 500. Escaping keeps it a 422.
        return AsciiJSONResponse({"detail": jsonable_encoder(exc.errors())}, status_code=422)

    @app.exception_handler(UpstreamTimeout)
    async def upstream_too_slow(request: Request, exc: UpstreamTimeout) -> JSONResponse:
        return JSONResponse({"detail": f"the {exc.upstream} service is too slow: {exc.reason}"}, status_code=504)

    @app.exception_handler(UpstreamUnavailable)
    async def upstream_down(request: Request, exc: UpstreamUnavailable) -> JSONResponse:
        return JSONResponse({"detail": f"the {exc.upstream} service is unavailable: {exc.reason}"},
                            status_code=503)

    @app.get("/", tags=["about"])
    async def about(request: Request) -> dict[str, Any]:
        """What this app is and where its parts are."""
        return {"app": "bookshelf", "stage": stage, "docs": "/docs",
                "upstreams": getattr(request.app.state, "upstreams", None) and request.app.state.upstreams.urls}

    app.include_router(catalogue.router)
    app.include_router(details.router)
    if stage >= 4:
        app.include_router(shelf.router)
    if stage >= 5:
        app.include_router(offload.router)
    if stage >= 6:
        app.include_router(jobs.router)
    self_host_docs(app)  # Swagger UI and ReDoc without a CDN
    return app

