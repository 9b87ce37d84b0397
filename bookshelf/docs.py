"""Serve the Bookshelf app's interactive docs (Swagger UI, ReDoc) from this machine instead of a CDN.

FastAPI's ``/docs`` and ``/redoc`` pages load their scripts from a CDN, so offline (a classroom without
internet, an air-gapped hub, CI) they stay blank. :func:`self_host_docs` follows FastAPI's documented
recipe for self-hosting them: the scripts come from the ``fastapi-offline`` package's copies, served by the
app itself under ``/_docs-assets``, with every URL prefixed by the request's ``root_path`` so the pages work
directly and through jupyter-server-proxy. ``create_app`` calls it: the app shows its docs without internet.
"""

from __future__ import annotations

import functools
from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.routing import Mount, Route

__all__ = ["ASSETS_PATH", "assets_dir", "self_host_docs"]

ASSETS_PATH = "/_docs-assets"
"""Where the app serves the docs' scripts, styles and icon."""


def assets_dir() -> Path:
    """The folder holding ``swagger-ui-bundle.js``, ``swagger-ui.css``, ``redoc.standalone.js``, ``favicon.png``."""
    return Path(str(files("fastapi_offline") / "static"))


REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"
"""ReDoc's standalone bundle always draws Redocly's logo in its menu's footer, from this CDN address. The app
serves the bundle with the address replaced by an empty inline image, so the page asks nothing of the internet."""
_BLANK_IMAGE = "data:image/gif;base64,R0lGODlhAQABAAAAACH5BAEKAAEALAAAAAABAAEAAAICTAEAOw=="


@functools.cache
def _redoc_bundle() -> bytes:
    return (assets_dir() / "redoc.standalone.js").read_bytes().replace(REDOC_LOGO.encode(), _BLANK_IMAGE.encode())


async def _serve_redoc_bundle(request: Request) -> Response:
    return Response(_redoc_bundle(), media_type="text/javascript")


def _replace(app: FastAPI, path: str | None, endpoint: Any) -> None:
    for index, route in enumerate(app.router.routes):
        if isinstance(route, Route) and route.path == path:
            app.router.routes[index] = Route(path, endpoint, include_in_schema=False)


def self_host_docs(app: Any) -> Any:
    """Point a FastAPI app's ``/docs`` and ``/redoc`` at local copies of their assets; returns ``app``.

    Anything that is not a FastAPI app, or an app already set up, is returned unchanged.
    """
    if not isinstance(app, FastAPI) or not app.openapi_url:
        return app
    if any(isinstance(r, Mount) and r.path == ASSETS_PATH for r in app.router.routes):
        return app
    openapi_url = app.openapi_url

    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        oauth2 = app.swagger_ui_oauth2_redirect_url
        return get_swagger_ui_html(
            openapi_url=root + openapi_url, title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=root + oauth2 if oauth2 else None, init_oauth=app.swagger_ui_init_oauth,
            swagger_ui_parameters=app.swagger_ui_parameters,
            swagger_js_url=f"{root}{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_PATH}/favicon.png")

    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return get_redoc_html(
            openapi_url=root + openapi_url, title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{ASSETS_PATH}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS_PATH}/favicon.png", with_google_fonts=False)

    _replace(app, app.docs_url, swagger_ui)
    _replace(app, app.redoc_url, redoc)
    app.router.routes.insert(0, Mount(ASSETS_PATH, StaticFiles(directory=assets_dir()), name="docs-assets"))
    app.router.routes.insert(0, Route(f"{ASSETS_PATH}/redoc.standalone.js", _serve_redoc_bundle,
                                      include_in_schema=False))
    return app
