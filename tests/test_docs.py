"""The apps' docs pages (Swagger UI, ReDoc) load every script from the app itself, never from a CDN."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi import FastAPI

import bookshelf.docs
import labkit.docs
from bookshelf import Settings, create_app

ASSET_URL = re.compile(r"""(?:src|href)=["']([^"']+)["']|url: ?['"]([^'"]+)['"]""")


def asset_urls(html: str) -> list[str]:
    return [a or b for a, b in ASSET_URL.findall(html)]


async def fetch_page_and_assets(app: FastAPI, page: str, root_path: str = "") -> list[tuple[str, int]]:
    transport = httpx.ASGITransport(app=app, root_path=root_path)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        html = (await client.get(root_path + page)).text
        urls = asset_urls(html)
        assert urls, html
        answers = []
        for url in urls:
            assert url.startswith(root_path + "/"), f"{url} is not served by the app itself (root_path {root_path!r})"
            # like uvicorn behind a proxy: the path keeps the prefix, root_path names it
            answers.append((url, (await client.get(url)).status_code))
        return answers


def learner_app() -> FastAPI:
    app = FastAPI(title="t")

    @app.get("/hello")
    async def hello() -> dict[str, str]:
        return {"hello": "docs"}

    return app


@pytest.mark.anyio
@pytest.mark.parametrize("root_path", ["", "/user/learner/proxy/8123"])
@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_labkit_docs_pages_use_local_assets(page, root_path):
    app = labkit.docs.self_host_docs(learner_app())
    answers = await fetch_page_and_assets(app, page, root_path)
    assert all(status == 200 for _, status in answers), answers
    assert any(url.endswith(".js") for url, _ in answers)


@pytest.mark.anyio
@pytest.mark.parametrize("root_path", ["", "/proxy/8123"])
async def test_bookshelf_docs_use_local_assets(root_path):
    app = create_app(Settings())
    assert bookshelf.docs.ASSETS_PATH == labkit.docs.ASSETS_PATH
    answers = await fetch_page_and_assets(app, "/docs", root_path)
    assert {url.rsplit("/", 1)[1] for url, status in answers if status == 200} >= {
        "swagger-ui-bundle.js", "swagger-ui.css", "favicon.png", "openapi.json"}


def test_unmodified_fastapi_would_use_a_cdn():
    # What this module guards against: without self_host_docs the page names a CDN.
    from fastapi.openapi.docs import get_swagger_ui_html

    assert "https://" in get_swagger_ui_html(openapi_url="/openapi.json", title="t").body.decode()


def test_self_host_docs_is_idempotent_and_leaves_other_apps_alone():
    app = learner_app()
    routes = len(labkit.docs.self_host_docs(app).routes)
    assert len(labkit.docs.self_host_docs(app).routes) == routes
    assert labkit.docs.self_host_docs("not an app") == "not an app"
    assert all(not getattr(r, "include_in_schema", False) for r in app.routes if r.path.startswith("/_docs"))
    assert "/_docs-assets" not in str(app.openapi())


def test_assets_exist():
    for name in ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png"):
        assert (labkit.docs.assets_dir() / name).stat().st_size > 1000, name


@pytest.mark.anyio
async def test_redoc_asks_no_cdn_for_its_logo():
    # ReDoc's bundle draws Redocly's logo from a CDN whatever its options: the app serves it without that address.
    assert bookshelf.docs.REDOC_LOGO.encode() in (labkit.docs.assets_dir() / "redoc.standalone.js").read_bytes()
    app = labkit.docs.self_host_docs(learner_app())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        r = await client.get(f"{labkit.docs.ASSETS_PATH}/redoc.standalone.js")
    assert r.status_code == 200 and "javascript" in r.headers["content-type"]
    assert len(r.content) > 100_000 and b"cdn.redoc.ly" not in r.content
