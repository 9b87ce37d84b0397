"""Lesson 02 (A first FastAPI app in the kernel): checks of the three exercises.

Each check tests behaviour, not wall-clock time: it calls the learner's app through
``httpx.ASGITransport`` or a real in-kernel server, and instruments what the app or the
client touches (requests in flight, calls of a blocking function running at once).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from ..checks import expect, exercise

__all__ = ["check_create_app", "check_fetch_many", "check_unblock"]


def _asgi_client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://lesson02.test")


# -- 02.create_app ---------------------------------------------------------------------------

@exercise("02.create_app", target="create_app", points=3, timeout=40,
          cell_hint="the `%%myshelf app` cell of exercise 2.1")
async def check_create_app(create_app: Callable[[], Any]) -> None:
    """Served over real HTTP: /square, /greet, and /notes with a validated body, a lifespan store and Depends."""
    from fastapi import FastAPI

    from ..serving import serve

    app = create_app()
    expect(isinstance(app, FastAPI), f"create_app() should return a FastAPI app, got {type(app).__name__}")
    notes_cls = getattr(create_app, "__globals__", {}).get("Notes")
    expect(isinstance(notes_cls, type) and isinstance(getattr(notes_cls, "opened", None), list),
           "keep the given `Notes` class in the same cell as create_app(): the check counts the stores it opens")
    before = len(notes_cls.opened)
    server = serve(app, name="check-02.create_app")   # uvicorn runs the app's lifespan, as in production
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            await _check_square_and_greet(client)
            opened = notes_cls.opened[before:]
            expect(len(opened) == 1, f"starting the app should open one `Notes()` store in the lifespan, it "
                                     f"opened {len(opened)}: create it before `yield` and pass `lifespan=` to "
                                     "FastAPI(...)")
            store = opened[0]
            await _check_notes(client, store)
        _check_notes_use_depends(app, notes_cls)
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            fake = notes_cls()
            dependency = _notes_dependency(app)
            app.dependency_overrides[dependency] = lambda: fake
            try:
                r = await client.post("/notes", json={"text": "through the override"})
            finally:
                app.dependency_overrides.clear()
            expect(r.status_code == 201 and fake.items == [{"id": 1, "text": "through the override"}],
                   "with the dependency overridden, POST /notes should have used the store the dependency "
                   "returned: take the store as a parameter `Annotated[Notes, Depends(...)]`, not from app.state")
    finally:
        server.stop()
    expect(store.closed, "stopping the app should close the store: `await app.state.notes.aclose()` after `yield` "
                         "(in a `finally:`, so it runs even after an error)")


async def _check_square_and_greet(client: httpx.AsyncClient) -> None:
    for n in (7, 0, -3, 12):
        r = await client.get(f"/square/{n}")
        expect(r.status_code == 200, f"GET /square/{n} answered {r.status_code}; expected 200 "
                                     f"(is the route `@app.get(\"/square/{{n}}\")`?)")
        expect(r.json() == {"n": n, "square": n * n},
               f"GET /square/{n} returned {r.json()!r}; expected {{'n': {n}, 'square': {n * n}}}")
    for bad in ("seven", "2.5"):
        r = await client.get(f"/square/{bad}")
        expect(r.status_code == 422, f"GET /square/{bad} answered {r.status_code}; expected 422: "
                                     f"annotate the parameter as `n: int` so FastAPI validates it")
    for name in ("Ada", "async world"):
        r = await client.get("/greet", params={"name": name})
        expect(r.status_code == 200, f"GET /greet?name={name} answered {r.status_code}; expected 200")
        expect(r.json() == {"message": f"Hello, {name}!"},
               f"GET /greet?name={name} returned {r.json()!r}; expected {{'message': 'Hello, {name}!'}}")
    r = await client.get("/greet")
    expect(r.status_code == 422, f"GET /greet without a name answered {r.status_code}; expected 422: "
                                 f"make `name` a required query parameter (`name: str`, no default)")


async def _check_notes(client: httpx.AsyncClient, store: Any) -> None:
    r = await client.post("/notes", json={"text": "first"})
    expect(r.status_code == 201, f"POST /notes with {{'text': 'first'}} answered {r.status_code}; expected 201 "
                                 f"(`@app.post(\"/notes\", status_code=201)`)")
    expect(r.json() == {"id": 1, "text": "first"}, f"POST /notes returned {r.json()!r}; expected "
                                                   "{'id': 1, 'text': 'first'}, what `notes.add(text)` returns")
    expect(store.items == [{"id": 1, "text": "first"}],
           "the note should be added to the store the lifespan opened (app.state), not to another one")
    for body, why in (({"text": ""}, "an empty text"), ({"text": "x" * 201}, "a text of 201 characters"),
                      ({}, "a body without `text`"), ({"text": 5}, "a number instead of a string"),
                      (["text"], "a list instead of an object")):
        r = await client.post("/notes", json=body)
        expect(r.status_code == 422, f"POST /notes with {why} answered {r.status_code}; expected 422: declare a "
                                     "Pydantic model with `text: str = Field(min_length=1, max_length=200)` "
                                     "and take it as the endpoint's parameter")
    expect(len(store.items) == 1, f"invalid bodies must not add notes, the store holds {len(store.items)}")
    await client.post("/notes", json={"text": "second"})
    r = await client.get("/notes")
    expect(r.status_code == 200 and r.json() == [{"id": 1, "text": "first"}, {"id": 2, "text": "second"}],
           f"GET /notes returned {r.status_code} {r.text[:200]}; expected the two notes, oldest first")


def _notes_dependency(app: Any) -> Any:
    for route in app.routes:
        if getattr(route, "path", None) == "/notes" and "POST" in getattr(route, "methods", ()):
            calls = [d.call for d in route.dependant.dependencies]
            expect(calls, "POST /notes should receive the store through `Depends(...)`: none found")
            return calls[0]
    expect(False, "the app has no POST /notes route")


def _check_notes_use_depends(app: Any, notes_cls: type) -> None:
    for method in ("GET", "POST"):
        routes = [r for r in app.routes if getattr(r, "path", None) == "/notes" and method in getattr(r, "methods", ())]
        expect(routes, f"the app has no {method} /notes route")
        expect(routes[0].dependant.dependencies, f"{method} /notes should receive the store through "
                                                 "`Annotated[Notes, Depends(get_notes)]`")


# -- 02.fetch_many ---------------------------------------------------------------------------

def _in_flight_app(n: int, patience: float = 2.0) -> tuple[Any, dict[str, Any]]:
    """An app whose `/slow` waits until `n` requests are in flight at once (or `patience` s passed).

    It records the largest number of requests it saw in flight at the same moment. After one
    request gives up waiting, later ones answer at once, so a sequential client costs ~2 s, not 2n s.
    """
    from fastapi import FastAPI

    app = FastAPI()
    state: dict[str, Any] = {"in_flight": 0, "max_in_flight": 0, "arrivals": 0, "gave_up": False, "event": None}

    @app.get("/slow")
    async def slow() -> dict[str, int]:
        if state["event"] is None:
            state["event"] = asyncio.Event()
        arrival = state["arrivals"]
        state["arrivals"] += 1
        state["in_flight"] += 1
        state["max_in_flight"] = max(state["max_in_flight"], state["in_flight"])
        try:
            if state["in_flight"] >= n:
                state["event"].set()
            if not state["gave_up"]:
                try:
                    await asyncio.wait_for(state["event"].wait(), patience)
                except asyncio.TimeoutError:
                    state["gave_up"] = True
        finally:
            state["in_flight"] -= 1
        return {"arrival": arrival}

    return app, state


@exercise("02.fetch_many", target="fetch_many", points=2, timeout=30)
async def check_fetch_many(fetch_many: Callable[[str, int], Awaitable[list[Any]]]) -> None:
    """All n requests are in flight at once, the bodies come back, and the client is closed."""
    from ..serving import serve

    n = 8
    app, state = _in_flight_app(n)
    server = serve(app, name="check-02.fetch_many")
    try:
        bodies = await fetch_many(server.url, n)
        expect(isinstance(bodies, list), f"fetch_many should return a list, got {type(bodies).__name__}")
        expect(len(bodies) == n, f"fetch_many(url, {n}) returned {len(bodies)} item(s); expected {n}")
        expect(all(isinstance(b, dict) for b in bodies),
               "return the JSON bodies (`response.json()`), not the response objects: got "
               f"{type(bodies[0]).__name__}")
        expect(state["arrivals"] == n, f"the server received {state['arrivals']} request(s); expected {n}")
        expect(sorted(b.get("arrival", -1) for b in bodies) == list(range(n)),
               f"the bodies {bodies!r} are not the ones the server sent")
        seen = state["max_in_flight"]
        expect(seen == n, f"at most {seen} request(s) were in flight at the same time; expected all {n}: "
                          "create every request first, then await them together with asyncio.gather")
        # A closed client closes its connections at once; an unclosed one keeps them open until
        # the server drops idle connections (uvicorn's keep-alive timeout: 5 s).
        connections = server._server.server_state.connections
        deadline = time.monotonic() + 2.0
        while connections and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        expect(not connections, f"{len(connections)} connection(s) stayed open after fetch_many returned: "
                                "open the client with `async with httpx.AsyncClient() as client:` so it is closed")
    finally:
        await server.astop()


# -- 02.unblock ------------------------------------------------------------------------------

class _BlockingReport:
    """A stand-in for a blocking SDK call: it blocks its thread and records calls running at once.

    Each call waits (blocking, like ``time.sleep``) until a second call is running too, or
    ``patience`` seconds passed; then it sleeps ``delay`` seconds. After one call gave up waiting,
    later calls only sleep, so a serialised app costs about ``patience + n * delay``.
    """

    def __init__(self, delay: float = 0.2, patience: float = 1.0) -> None:
        self.delay = delay
        self.patience = patience
        self.lock = threading.Lock()
        self.partner = threading.Event()
        self.gave_up = False
        self.running = 0
        self.max_running = 0
        self.calls = 0
        self.threads: set[str] = set()

    def __call__(self) -> dict[str, Any]:
        with self.lock:
            self.calls += 1
            number = self.calls
            self.running += 1
            self.max_running = max(self.max_running, self.running)
            self.threads.add(threading.current_thread().name)
            if self.running >= 2:
                self.partner.set()
        try:
            if not self.gave_up and not self.partner.wait(self.patience):
                self.gave_up = True
            time.sleep(self.delay)
        finally:
            with self.lock:
                self.running -= 1
        return {"report": "quarterly", "rows": 3, "call": number}


@exercise("02.unblock", target="make_report_app", points=2, timeout=30)
async def check_unblock(make_report_app: Callable[[Callable[[], Any]], Any]) -> None:
    """Concurrent `/report` requests run `slow_report` at the same time: the event loop stays free."""
    from fastapi import FastAPI

    requests = 6
    slow_report = _BlockingReport()
    app = make_report_app(slow_report)
    expect(isinstance(app, FastAPI), f"make_report_app should return a FastAPI app, got {type(app).__name__}")
    async with _asgi_client(app) as client:
        responses = await asyncio.gather(*(client.get("/report") for _ in range(requests)))
    codes = sorted({r.status_code for r in responses})
    expect(codes == [200], f"GET /report answered {codes}; expected 200 (is the route `@app.get(\"/report\")`?)")
    expect(slow_report.calls == requests,
           f"slow_report was called {slow_report.calls} time(s) for {requests} requests; call it once per request")
    bodies = [r.json() for r in responses]
    expect(all(set(b) == {"report", "rows", "call"} for b in bodies),
           f"/report should return what slow_report() returns, got {bodies[0]!r}")
    expect(slow_report.max_running >= 2,
           f"the {requests} concurrent requests ran slow_report one at a time (at most "
           f"{slow_report.max_running} at once): the blocking call ran on the event loop and blocked it. "
           "Use a `def` endpoint (FastAPI runs it in a worker thread) or "
           "`await asyncio.to_thread(slow_report)` in an `async def` endpoint")
