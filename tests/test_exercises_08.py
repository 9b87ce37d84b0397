"""Lesson 08's checks: good tests pass, tests that miss a bug are rejected, and the mutants really are broken."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from asgi_lifespan import LifespanManager

from bookshelf import Behaviour
from labkit import myshelf
from labkit.checks import run_check
from labkit.exercises.lesson08 import details_mutants, fresh_app, run_test_on, shelf_mutants


@asynccontextmanager
async def running(app) -> AsyncIterator[httpx.AsyncClient]:
    async with LifespanManager(app) as manager:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app),
                                     base_url="http://test") as client:
            yield client


def ratings_down(app) -> None:
    app.state.upstream_apps["ratings"].state.behaviour = Behaviour(latency=0, jitter=0, failure_rate=1.0)


async def good_details_test(app) -> None:
    async with running(app) as client:
        ratings_down(app)
        r = await client.get("/books/1/details")
        assert r.status_code == 200
        assert r.json()["rating"] is None
        assert "ratings" in r.json()["degraded"]


async def status_only_details_test(app) -> None:
    async with running(app) as client:
        ratings_down(app)
        assert (await client.get("/books/1/details")).status_code == 200


async def never_breaks_anything(app) -> None:
    async with running(app) as client:
        r = await client.get("/books/1/details")
        assert r.status_code == 200 and r.json()["degraded"] == {}


async def good_shelf_test(app) -> None:
    async with running(app) as client:
        assert (await client.post("/shelf", json={"book_id": 3})).status_code == 201
        assert (await client.post("/shelf", json={"book_id": 3})).status_code == 409
        assert [e["book_id"] for e in (await client.get("/shelf")).json()] == [3]


async def status_only_shelf_test(app) -> None:
    async with running(app) as client:
        await client.post("/shelf", json={"book_id": 3})
        assert (await client.post("/shelf", json={"book_id": 3})).status_code == 409


async def rows_only_shelf_test(app) -> None:
    async with running(app) as client:
        await client.post("/shelf", json={"book_id": 3})
        await client.post("/shelf", json={"book_id": 3})
        assert len((await client.get("/shelf")).json()) == 1


@asynccontextmanager
async def good_make_client(app, overrides=None):
    saved = dict(app.dependency_overrides)
    app.dependency_overrides.update(overrides or {})
    try:
        async with running(app) as client:
            yield client
    finally:
        app.dependency_overrides.clear()
        app.dependency_overrides.update(saved)


@asynccontextmanager
async def no_lifespan(app, overrides=None):
    app.dependency_overrides.update(overrides or {})
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            yield client
    finally:
        app.dependency_overrides.clear()


@asynccontextmanager
async def no_finally(app, overrides=None):
    app.dependency_overrides.update(overrides or {})
    async with running(app) as client:
        yield client
    for key in overrides or {}:
        app.dependency_overrides.pop(key)


@asynccontextmanager
async def clears_everything(app, overrides=None):
    app.dependency_overrides.update(overrides or {})
    try:
        async with running(app) as client:
            yield client
    finally:
        app.dependency_overrides.clear()


@pytest.mark.anyio
@pytest.mark.parametrize(("mutant", "reference"),
                         [(m, good_details_test) for m in details_mutants()]
                         + [(m, good_shelf_test) for m in shelf_mutants()], ids=lambda m: getattr(m, "name", ""))
async def test_every_mutant_is_caught_by_the_reference_test(mutant, reference):
    app = fresh_app()
    mutant.break_it(app)
    assert await run_test_on(reference, app) is not None


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_details_check_accepts_a_good_test_and_names_what_a_weak_one_misses():
    assert run_check("08.test_details_degrades", {"test_details_degrades": good_details_test}).passed
    weak = run_check("08.test_details_degrades", {"test_details_degrades": status_only_details_test})
    assert weak.status == "failed" and "empty `degraded`" in weak.message
    blind = run_check("08.test_details_degrades", {"test_details_degrades": never_breaks_anything})
    assert blind.status == "failed" and "answers 502" in blind.message


def test_shelf_check_wants_both_the_409_and_the_single_row():
    assert run_check("08.test_shelf_conflict", {"test_shelf_conflict": good_shelf_test}).passed
    status_only = run_check("08.test_shelf_conflict", {"test_shelf_conflict": status_only_shelf_test})
    assert status_only.status == "failed" and "stores the duplicate anyway" in status_only.message
    rows_only = run_check("08.test_shelf_conflict", {"test_shelf_conflict": rows_only_shelf_test})
    assert rows_only.status == "failed" and "409" in rows_only.message


def test_a_sync_test_function_is_refused_with_advice():
    def sync_test(app) -> None:
        pass

    result = run_check("08.test_shelf_conflict", {"test_shelf_conflict": sync_test})
    assert result.status == "failed" and "async def" in result.message


@pytest.mark.parametrize(("answer", "status", "words"), [
    (good_make_client, "passed", ""),
    (no_lifespan, "failed", "LifespanManager"),
    (no_finally, "failed", "finally"),
    (clears_everything, "failed", "before make_client"),
])
def test_make_client_check(answer, status, words):
    result = run_check("08.make_client", {"make_client": answer})
    assert result.status == status, result.message
    assert words in result.message


@asynccontextmanager
async def stub(app, overrides=None):
    raise NotImplementedError()


@asynccontextmanager
async def returns_instead_of_yielding(app, overrides=None):
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


def test_make_client_stub_is_not_attempted_and_a_missing_yield_is_explained():
    assert run_check("08.make_client", {"make_client": stub}).status == "not attempted"
    result = run_check("08.make_client", {"make_client": returns_instead_of_yielding})
    assert result.status == "failed" and "no `yield`" in result.message


async def details_stub(app) -> None:
    raise NotImplementedError()


def test_test_stubs_are_not_attempted():
    assert run_check("08.test_details_degrades", {"test_details_degrades": details_stub}).status == "not attempted"


async def always_fails(app) -> None:
    raise AssertionError("this test fails everywhere")


def test_a_test_that_fails_on_the_unbroken_app_is_told_whose_parts_it_ran():
    result = run_check("08.test_details_degrades", {"test_details_degrades": always_fails})
    assert result.status == "failed" and "failed on the unbroken app" in result.message
    assert "fetch_details (stand-in)" in result.message, result.message


def test_the_checks_run_the_learners_parts(tmp_path, monkeypatch):
    monkeypatch.setenv(myshelf.HOME_ENV, str(tmp_path))
    myshelf.write_module("details", "from bookshelf.fanout import fetch_details_sequential\n\n\n"
                                    "async def fetch_details(upstreams, book):\n"
                                    "    return await fetch_details_sequential(upstreams, book)\n")
    try:
        app = fresh_app()
        assert app.state.fetch_details.__module__ == "myshelf.details"
        result = run_check("08.test_details_degrades", {"test_details_degrades": always_fails})
        assert "fetch_details (yours, myshelf/details.py)" in result.message, result.message
    finally:
        for name in [n for n in sys.modules if n == "myshelf" or n.startswith("myshelf.")]:
            del sys.modules[name]
        if str(tmp_path) in sys.path:
            sys.path.remove(str(tmp_path))


def test_shelf_check_runs_the_apps_parts_not_the_packages_defaults(monkeypatch):
    """In the learner-only release the package's own add_to_shelf is a stub: the check's broken apps must
    still add through the app's parts (a correct test scored 0 in the class grader's sandbox before)."""
    import bookshelf.db

    async def stubbed(*args, **kwargs):
        raise NotImplementedError()

    monkeypatch.setattr(bookshelf.db, "add_to_shelf", stubbed)
    monkeypatch.setattr(bookshelf.db, "move_between_lists", stubbed)
    result = run_check("08.test_shelf_conflict", {"test_shelf_conflict": good_shelf_test})
    assert result.passed, result.message
