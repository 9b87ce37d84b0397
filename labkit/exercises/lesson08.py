"""Lesson 08 (Testing async FastAPI apps): checks of the three exercises.

Exercises 8.1 and 8.2 ask for a *test*. A test is worth something when it passes on a correct app
and fails on a broken one, so these checks grade like mutation testing: they run the learner's
test on a fresh Bookshelf app built from the learner's parts (``labkit.myshelf.app_parts(8)``: their
code of lessons 03-07, or the course's stand-ins), then on deliberately broken copies of it ("mutants"),
each broken in one way a real bug could be. The test must pass on the first and fail on every mutant.
Each mutant is built without touching the learner's own tools: the details mutants swap
``app.state.fetch_details`` (which the details route calls), the shelf mutants change the shelf
after the app's own lifespan has started, so dependency overrides in the learner's test still work.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request

from ..checks import expect, exercise
from ..myshelf import app_parts_quietly

__all__ = ["Mutant", "details_mutants", "shelf_mutants", "fresh_app", "run_test_on",
           "check_test_details_degrades", "check_test_shelf_conflict", "check_make_client"]

RUN_LIMIT = 20.0  # seconds one run of a learner's test may take (they take well under a second)


class Mutant:
    """A deliberately broken app: ``break_it(app)`` breaks a fresh app; ``bug`` and ``advice`` explain it."""

    # A plain class, not a dataclass: the grader runs this module's source in a module that is not in
    # sys.modules, and @dataclass looks its class's module up there.
    def __init__(self, name: str, bug: str, advice: str, break_it: Callable[[Any], None]) -> None:
        self.name, self.bug, self.advice, self.break_it = name, bug, advice, break_it

    def __repr__(self) -> str:
        return f"Mutant({self.name!r})"


def fresh_app() -> Any:
    """The finished Bookshelf app with the learner's parts, not started: in-memory database, services in-process."""
    from bookshelf import LAST_STAGE, Settings, create_app

    return create_app(Settings.ephemeral(), stage=LAST_STAGE, parts=app_parts_quietly(8)[0])


async def run_test_on(test: Callable[[Any], Awaitable[None]], app: Any) -> BaseException | None:
    """Run the learner's test on ``app``: ``None`` when it passes, the exception when it fails.

    ``NotImplementedError`` propagates (the exercise is not attempted yet); a test that runs
    longer than ``RUN_LIMIT`` seconds counts as failed, as pytest-timeout would make it.
    """
    try:
        await asyncio.wait_for(test(app), RUN_LIMIT)
    except NotImplementedError:
        raise
    except Exception as exc:  # noqa: BLE001 - any exception is what makes a test fail
        return exc
    return None


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text[:300]}" if text else type(exc).__name__


async def _grade_test(test: Callable[[Any], Awaitable[None]], mutants: list[Mutant], what: str) -> None:
    expect(inspect.iscoroutinefunction(test),
           f"write the test as `async def {getattr(test, '__name__', 'test')}(app):` so it can await the client")
    failure = await run_test_on(test, fresh_app())
    expect(failure is None,
           f"your test failed on the unbroken app, where it should pass ({_describe(failure) if failure else ''}). "
           f"{what} (The app is built from your parts where they exist: {app_parts_quietly(8)[1]}; if one of "
           f"yours is wrong, its own check says so.)")
    for mutant in mutants:
        app = fresh_app()
        mutant.break_it(app)
        expect(await run_test_on(test, app) is not None,
               f"your test passed on a broken app that {mutant.bug}: a good test fails there. {mutant.advice}")


# -- 08.test_details_degrades ----------------------------------------------------------------

def _swap_fetch_details(change: Callable[[Any], Any]) -> Callable[[Any], None]:
    """A ``break_it`` that runs the real fan-out, then passes its result through ``change``."""

    def break_it(app: Any) -> None:
        real = app.state.fetch_details

        async def broken(upstreams: Any, book: Any) -> Any:
            return change(await real(upstreams, book))

        app.state.fetch_details = broken

    return break_it


def _answer_502(details: Any) -> Any:
    from fastapi import HTTPException

    if details.degraded:
        raise HTTPException(502, "an upstream service failed")
    return details


def _forget_names(details: Any) -> Any:
    details.degraded = {}
    return details


def _blame_prices(details: Any) -> Any:
    details.degraded = {"prices" if name == "ratings" else name: why for name, why in details.degraded.items()}
    return details


def _make_up_rating(details: Any) -> Any:
    from bookshelf.models import Rating

    if details.rating is None:
        details.rating = Rating(average=5.0, count=1)
    return details


def details_mutants() -> list[Mutant]:
    """The broken apps a good ``test_details_degrades`` must fail on."""
    return [
        Mutant("502", "answers 502 when the ratings service is down",
               "Assert the status code is 200, and make sure your test really takes the ratings service down "
               "(override `get_upstreams`, or give the simulated ratings service `Behaviour(failure_rate=1.0)`).",
               _swap_fetch_details(_answer_502)),
        Mutant("silent", "answers 200 with the fallback but an empty `degraded`",
               "Assert that the response's `degraded` names \"ratings\".", _swap_fetch_details(_forget_names)),
        Mutant("wrong name", "names \"prices\" instead of \"ratings\" in `degraded`",
               "Assert that \"ratings\" is in `degraded`, not only that `degraded` is not empty.",
               _swap_fetch_details(_blame_prices)),
        Mutant("made-up rating", "answers with a made-up rating instead of the fallback (`rating` null)",
               "Assert that the fallback is in place: `rating` is None.", _swap_fetch_details(_make_up_rating)),
    ]


@exercise("08.test_details_degrades", target="test_details_degrades", points=3, timeout=90)
async def check_test_details_degrades(test: Callable[[Any], Awaitable[None]]) -> None:
    """The learner's test passes on the real app and fails on every details mutant."""
    await _grade_test(test, details_mutants(),
                      "Start the app's lifespan (`async with running(app) as client:`), take the ratings service "
                      "down, and read `/books/1/details`.")


# -- 08.test_shelf_conflict -------------------------------------------------------------------

def _after_startup(hook: Callable[[Any], Awaitable[None]]) -> Callable[[Any], None]:
    """A ``break_it`` that runs ``hook(app)`` right after the app's own lifespan has started."""

    def break_it(app: Any) -> None:
        original = app.router.lifespan_context

        @asynccontextmanager
        async def lifespan(a: Any) -> AsyncIterator[Any]:
            async with original(a) as state:
                await hook(a)
                yield state

        app.router.lifespan_context = lifespan

    return break_it


# The shelf table as a careless schema would have it: no primary key, so nothing stops duplicates.
_NO_KEY = """
DROP TABLE shelf;
CREATE TABLE shelf (
    book_id  INTEGER NOT NULL REFERENCES books(id),
    status   TEXT NOT NULL,
    note     TEXT NOT NULL DEFAULT '',
    added_at TEXT NOT NULL
);
"""


async def _drop_key(app: Any) -> None:
    await app.state.db.conn.executescript(_NO_KEY)


async def _drop_key_then_complain(app: Any) -> None:
    from bookshelf.db import DuplicateEntry, Shelf

    class InsertsThenComplains(Shelf):
        async def add(self, book_id: Any, status: Any, note: Any) -> Any:
            already = any(e.book_id == book_id for e in await self.entries())
            entry = await super().add(book_id, status, note)
            if already:
                raise DuplicateEntry(book_id)
            return entry

    await _drop_key(app)
    app.state.shelf = InsertsThenComplains(app.state.db, app.state.parts)


async def _accept_silently(app: Any) -> None:
    from bookshelf.db import DuplicateEntry, Shelf

    class AcceptsDuplicates(Shelf):
        async def add(self, book_id: Any, status: Any, note: Any) -> Any:
            try:
                return await super().add(book_id, status, note)
            except DuplicateEntry:
                return await self.get(book_id)

    app.state.shelf = AcceptsDuplicates(app.state.db, app.state.parts)


def shelf_mutants() -> list[Mutant]:
    """The broken apps a good ``test_shelf_conflict`` must fail on."""
    return [
        Mutant("duplicates", "stores the duplicate (201) and lists the book twice",
               "Assert the second POST answers 409.", _after_startup(_drop_key)),
        Mutant("409 but stored", "answers 409 but stores the duplicate anyway",
               "After the 409, read `GET /shelf` and assert the book is there exactly once. (Use the app's own "
               "database in this test: do not override `get_shelf`.)", _after_startup(_drop_key_then_complain)),
        Mutant("silent", "answers 201 to the duplicate without storing it",
               "Assert the second POST answers 409, not only that the shelf has one row.",
               _after_startup(_accept_silently)),
    ]


@exercise("08.test_shelf_conflict", target="test_shelf_conflict", points=2, timeout=90)
async def check_test_shelf_conflict(test: Callable[[Any], Awaitable[None]]) -> None:
    """The learner's test passes on the real app and fails on every shelf mutant."""
    await _grade_test(test, shelf_mutants(),
                      "Start the app's lifespan (`async with running(app) as client:`), POST the same book to "
                      "/shelf twice, and read /shelf.")


# -- 08.make_client ---------------------------------------------------------------------------

def _probe_app() -> tuple[Any, list[str], Callable[[], str], Callable[[], str]]:
    """A tiny app whose lifespan records startup/shutdown and whose `/probe` shows two dependencies."""
    events: list[str] = []

    def clock() -> str:
        return "real clock"

    def mailer() -> str:
        return "real mailer"

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        events.append("startup")
        app.state.started = True
        try:
            yield
        finally:  # LifespanManager cancels the lifespan when the block raises: only `finally` runs then
            events.append("shutdown")

    app = FastAPI(lifespan=lifespan)

    @app.get("/probe")
    async def probe(request: Request, c: str = Depends(clock), m: str = Depends(mailer)) -> dict[str, Any]:
        return {"started": getattr(request.app.state, "started", False), "clock": c, "mailer": m}

    return app, events, clock, mailer


class _Boom(Exception):
    """Raised inside the learner's ``async with`` to check the clean-up still happens."""


@exercise("08.make_client", target="make_client", points=2, timeout=30)
async def check_make_client(make_client: Callable[..., Any]) -> None:
    """Lifespan runs, overrides are active inside and restored after, also when the block raises."""
    import httpx

    app, events, clock, mailer = _probe_app()
    original = inspect.unwrap(make_client)
    if inspect.iscoroutinefunction(original):  # no `yield` in its body: the untouched stub, or a `return`
        await original(app, {})  # the stub raises NotImplementedError here
        expect(False, "make_client has no `yield`: write it as an `async def` that yields the client, decorated "
                      "with `@asynccontextmanager`")
    earlier = {mailer: lambda: "mailer set before"}
    app.dependency_overrides.update(earlier)
    manager = make_client(app, {clock: lambda: "fake clock"})
    expect(hasattr(manager, "__aenter__"),
           f"make_client(app, overrides) returned {type(manager).__name__}, not an async context manager: "
           "decorate it with `@asynccontextmanager` and `yield` the client")
    async with manager as client:
        expect(isinstance(client, httpx.AsyncClient),
               f"`async with make_client(...) as client` gave {type(client).__name__}; yield an httpx.AsyncClient")
        r = await client.get("/probe")
        expect(r.status_code == 200, f"GET /probe answered {r.status_code}; expected 200")
        body = r.json()
        expect(events == ["startup"] and body["started"],
               "the app's lifespan did not run: httpx.ASGITransport never sends lifespan events, so wrap the "
               "client in `async with LifespanManager(app):`")
        expect(body["clock"] == "fake clock", f"inside the block the clock dependency answered {body['clock']!r}: "
                                              "put the overrides into `app.dependency_overrides` before yielding")
        expect(body["mailer"] == "mailer set before",
               "an override that was set before make_client was lost inside the block: add yours, do not "
               "replace the whole dict")
    expect(events == ["startup", "shutdown"], "the app's lifespan did not shut down when the block ended")
    expect(client.is_closed, "the client is still open after the block: open it with `async with httpx.AsyncClient(...)`")
    expect(clock not in app.dependency_overrides,
           "your override is still in `app.dependency_overrides` after the block: remove it on exit, or every "
           "later test of this app gets the fake")
    expect(app.dependency_overrides == earlier,
           "after the block `app.dependency_overrides` differs from what it was before: restore it exactly "
           "(an override set before make_client must still be there)")

    app, events, clock, mailer = _probe_app()
    try:
        async with make_client(app, {clock: lambda: "fake clock"}):
            raise _Boom
    except _Boom:
        pass
    else:
        expect(False, "an exception raised inside `async with make_client(...)` disappeared: let it propagate")
    expect(not app.dependency_overrides,
           "when the block raised, your override stayed in `app.dependency_overrides`: remove it in a "
           "`finally:` so it goes even when a test fails")
    expect(events == ["startup", "shutdown"], "when the block raised, the app's lifespan did not shut down")

    app, events, clock, mailer = _probe_app()
    async with make_client(app) as client:
        body = (await client.get("/probe")).json()
    expect(body["clock"] == "real clock" and not app.dependency_overrides,
           "make_client(app) with no overrides should use the app's real dependencies")
