"""Lesson 07 (Debugging and observability): checks of the four exercises.

The checks observe behaviour only: ids read back from inside 50 interleaved requests, what a 500 body and
the log hold after a deliberate crash, which of a set of named tasks a finder reports, and what a
transaction leaves behind when a cancellation lands on each of its awaits (read through a second
connection). Nothing depends on how fast the machine is: requests wait for each other with an event, task
states are arranged before the learner's function looks at them, and cancellations are injected at a chosen
``execute`` call, not timed.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

import httpx

from ..checks import CheckFailed, exercise, expect, same

__all__ = ["check_request_id_middleware", "check_error_handler", "check_find_stuck_tasks", "check_transaction"]

HEADER = "X-Request-ID"
_HEX_ID = re.compile(r"[0-9a-f]{32}")


def _client(app: Any) -> httpx.AsyncClient:
    # raise_app_exceptions=False: an exception that escapes the app becomes the 500 a server would send.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://lesson07.test")


# -- 07.request_id_middleware --------------------------------------------------------------------

def _whoami_app(var: ContextVar[str], n: int, patience: float = 3.0) -> tuple[Any, dict[str, Any]]:
    """An app whose ``/whoami`` waits until ``n`` requests are inside it, then answers ``var.get()``."""
    from fastapi import FastAPI

    app = FastAPI()
    state: dict[str, Any] = {"inside": 0, "peak": 0, "event": asyncio.Event()}

    @app.get("/whoami")
    async def whoami() -> dict[str, str]:
        before = var.get()
        state["inside"] += 1
        state["peak"] = max(state["peak"], state["inside"])
        if state["inside"] >= n:
            state["event"].set()
        try:
            await asyncio.wait_for(state["event"].wait(), patience)
        except asyncio.TimeoutError:
            state["event"].set()  # later requests answer at once: a wrong answer still fails fast
        finally:
            state["inside"] -= 1
        after = var.get()
        return {"before": before, "after": after}

    return app, state


@exercise("07.request_id_middleware", target="install_request_ids", points=2, timeout=30)
async def check_request_id_middleware(install_request_ids: Callable[[Any, ContextVar[str]], Any]) -> None:
    """50 interleaved requests each read back their own id, the one in their header; valid ids are kept."""
    n = 50
    var: ContextVar[str] = ContextVar("check07_request_id", default="-")
    app, state = _whoami_app(var, n)
    install_request_ids(app, var)
    sent: list[str | None] = []
    for i in range(n):
        if i % 5 == 0:
            sent.append(None)                     # no header: the app makes an id
        elif i % 5 == 1:
            sent.append(f"bad id {i}!")           # not allowed characters: replaced
        elif i % 5 == 2:
            sent.append("x" * 65 + str(i))        # too long: replaced
        else:
            sent.append(f"client-{i}.a_b")        # valid: kept
    async with _client(app) as client:
        responses = await asyncio.gather(*(
            client.get("/whoami", headers={} if rid is None else {HEADER: rid}) for rid in sent))
        state["event"].set()
        # ASGITransport runs the app in the caller's task: a middleware that never resets leaks its id here.
        alone = await client.get("/whoami", headers={HEADER: "one-more"})
    codes = sorted({r.status_code for r in responses})
    expect(codes == [200], f"GET /whoami answered {codes}; expected 200 for every request (did the middleware "
                           f"call the app and pass `send` on?)")
    expect(state["peak"] == n, f"only {state['peak']} of the {n} requests were inside the endpoint at once; "
                               f"the middleware must not serialise requests")
    headers = [r.headers.get(HEADER) for r in responses]
    expect(all(h is not None for h in headers),
           f"{sum(h is None for h in headers)} response(s) had no {HEADER} header: add it to the "
           f"`http.response.start` message's headers")
    bodies = [r.json() for r in responses]
    unset = [b for b in bodies if b["before"] == "-"]
    expect(not unset, f"{len(unset)} request(s) saw the ContextVar still at its default inside the endpoint: "
                      f"set it with `var.set(...)` before calling the app")
    moved = [(b["before"], b["after"]) for b in bodies if b["before"] != b["after"]]
    if moved:
        raise CheckFailed(f"the id changed while a request was waiting ({moved[0][0]!r} became {moved[0][1]!r}): "
                          f"a shared variable is overwritten by the next request; use the ContextVar")
    mismatched = [(b["after"], h) for b, h in zip(bodies, headers) if b["after"] != h]
    if mismatched:
        raise CheckFailed(f"{len(mismatched)} response(s) carried an id in the header that differs from the one "
                          f"the endpoint saw, e.g. header {mismatched[0][1]!r} vs endpoint {mismatched[0][0]!r}: is the "
                          f"header's id kept somewhere every request shares?")
    expect(len(set(headers)) == n, f"only {len(set(headers))} distinct ids for {n} requests: each request needs "
                                   f"its own")
    for rid, header in zip(sent, headers):
        if rid is not None and rid.startswith("client-"):
            expect(header == rid, f"the client sent the valid id {rid!r} but got back {header!r}: keep a valid "
                                  f"incoming {HEADER}")
        else:
            what = "no id" if rid is None else f"the invalid id {rid[:20]!r}"
            expect(_HEX_ID.fullmatch(str(header)) is not None,
                   f"for a request with {what} the id was {str(header)[:40]!r}; expected a new "
                   f"`uuid.uuid4().hex` (32 hex digits)")
    expect(alone.status_code == 200 and alone.headers.get(HEADER) == "one-more",
           f"a single request with the id 'one-more' got back {alone.headers.get(HEADER)!r}")
    expect(var.get() == "-", f"after a request, the caller's context still holds the id {var.get()!r}: reset "
                             f"the ContextVar with the token `var.set` returned, in a `finally`")


# -- 07.error_handler -----------------------------------------------------------------------------

class _Records(logging.Handler):
    def __init__(self, var: ContextVar[str]) -> None:
        super().__init__(logging.DEBUG)
        self.var = var
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if not hasattr(record, "request_id"):
            record.request_id = self.var.get()
        self.records.append(record)


_SECRET = "password=hunter2 in /srv/bookshelf/secrets.py"


@exercise("07.error_handler", target="install_error_handler", points=2, timeout=30)
async def check_error_handler(install_error_handler: Callable[[Any, logging.Logger], Any]) -> None:
    """A crash becomes a generic 500 JSON with the request id; the traceback goes to the log; 404s unchanged."""
    from fastapi import FastAPI, HTTPException

    from bookshelf.observability import RequestIdMiddleware, request_id

    app = FastAPI()

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError(_SECRET)

    @app.get("/key")
    def key() -> None:  # a `def` endpoint: raised in a worker thread
        raise KeyError("secret_column")

    @app.get("/books/{book_id}")
    async def book(book_id: int) -> dict[str, int]:
        if book_id != 1:
            raise HTTPException(404, f"book {book_id} not found")
        return {"id": 1}

    logger = logging.getLogger("labkit.check07.errors")
    handler = _Records(request_id)
    logger.handlers.clear()
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        install_error_handler(app, logger)
        app.add_middleware(RequestIdMiddleware, logger=None)   # outermost: the id exists for every layer
        async with _client(app) as client:
            ok = await client.get("/books/1")
            missing = await client.get("/books/7", headers={HEADER: "req-404"})
            crash = await client.get("/boom", headers={HEADER: "req-boom"})
            crash2 = await client.get("/key", headers={HEADER: "req-key"})
    finally:
        logger.removeHandler(handler)
    expect(ok.status_code == 200 and ok.json() == {"id": 1},
           f"GET /books/1 answered {ok.status_code} {ok.text[:80]}: normal responses must pass unchanged")
    expect(missing.status_code == 404 and missing.json() == {"detail": "book 7 not found"},
           f"an HTTPException(404) now answers {missing.status_code} {missing.text[:80]}; it should still be "
           f"404 {{'detail': 'book 7 not found'}}: handle unexpected exceptions only")
    for response, rid, leak in ((crash, "req-boom", "hunter2"), (crash2, "req-key", "secret_column")):
        expect(response.status_code == 500, f"a crashing endpoint answered {response.status_code}; expected 500")
        try:
            body = response.json()
        except ValueError:
            raise CheckFailed(f"the 500 body is not JSON: {response.text[:80]!r}") from None
        expect(isinstance(body, dict) and set(body) == {"error", "request_id"},
               f"the 500 body is {body!r}; expected exactly the keys 'error' and 'request_id'")
        for bad in (leak, "Traceback", "RuntimeError", "KeyError", ".py", "/srv"):
            expect(bad not in response.text, f"the 500 body leaks {bad!r}: {response.text[:120]}; send a generic "
                                              f"message and keep the details for the log")
        expect(body["request_id"] == rid,
               f"the 500 body's request_id is {body['request_id']!r}; expected {rid!r}, the id of the request. "
               f"A handler registered for `Exception` runs outside every middleware, after the id was reset: "
               f"catch the error in a middleware that runs inside the request-id middleware")
        expect(response.headers.get(HEADER) == rid,
               f"the 500 response's {HEADER} header is {response.headers.get(HEADER)!r}; expected {rid!r} "
               f"(does the 500 pass back through the request-id middleware?)")
    errors = [r for r in handler.records if r.levelno >= logging.ERROR]
    expect(errors, "nothing was logged at ERROR level on the logger you were given: use `logger.exception(...)`")
    with_trace = [r for r in errors if r.exc_info and r.exc_info[1] is not None]
    expect(with_trace, "the ERROR record has no traceback: log with `logger.exception(...)` inside `except`, "
                       "or pass `exc_info=True`")
    text = "\n".join(logging.Formatter().format(r) for r in with_trace)
    expect("Traceback" in text and "hunter2" in text and "secret_column" in text,
           "the log should hold the traceback of both crashes (the RuntimeError and the KeyError)")
    ids = {r.request_id for r in with_trace}
    expect({"req-boom", "req-key"} <= ids,
           f"the logged errors carry request ids {sorted(ids)}; expected 'req-boom' and 'req-key': log while "
           f"the request id is still set")


# -- 07.find_stuck_tasks --------------------------------------------------------------------------

async def _scenario(find_stuck_tasks: Callable[[float], Awaitable[Any]]) -> tuple[Any, list[str]]:
    """Run the finder on a loop that holds finished, stuck and late-born named tasks; return its answer."""
    asyncio.current_task().set_name("the-checker")  # type: ignore[union-attr]
    never = asyncio.Event()
    lock = asyncio.Lock()
    await lock.acquire()   # held for good: a task that waits for it is stuck
    tasks = [
        asyncio.create_task(never.wait(), name="stuck-waiting-for-event"),
        asyncio.create_task(lock.acquire(), name="stuck-on-lock"),
        asyncio.create_task(asyncio.sleep(3600), name="stuck-sleeping"),
        asyncio.create_task(asyncio.sleep(0), name="finishes-at-once"),
        asyncio.create_task(asyncio.sleep(0.02), name="finishes-soon"),
    ]
    late: list[asyncio.Task[Any]] = []
    loop = asyncio.get_running_loop()
    # Runs only once the finder awaits, i.e. after it took its first look: this task is younger than the wait.
    loop.call_later(0.05, lambda: late.append(loop.create_task(never.wait(), name="started-during-the-wait")))
    try:
        async with asyncio.timeout(10):   # not wait_for: on 3.11 it would run the finder in another task
            answer = await find_stuck_tasks(0.3)
    except TimeoutError:
        raise CheckFailed("find_stuck_tasks(0.3) had not returned after 10 s") from None
    finally:
        for task in tasks + late:
            task.cancel()
        await asyncio.gather(*tasks, *late, return_exceptions=True)
    alive = [t.get_name() for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    return answer, alive


@exercise("07.find_stuck_tasks", target="find_stuck_tasks", points=2, timeout=30)
async def check_find_stuck_tasks(find_stuck_tasks: Callable[[float], Awaitable[Any]]) -> None:
    """Names of the tasks pending for the whole wait, sorted; not finished ones, newcomers or the caller."""
    import inspect

    probe = find_stuck_tasks(0.0)
    expect(inspect.isawaitable(probe), "find_stuck_tasks should be an `async def` (it waits `seconds`)")
    if inspect.iscoroutine(probe):
        probe.close()
    # A brand-new loop in another thread: the only tasks on it are the ones this check creates.
    answer, alive = await asyncio.to_thread(asyncio.run, _scenario(find_stuck_tasks))
    expect(isinstance(answer, list), f"find_stuck_tasks returned {type(answer).__name__}; expected a list of names")
    expect(all(isinstance(x, str) for x in answer),
           f"return the tasks' names (`task.get_name()`), not the tasks: got "
           f"{[type(x).__name__ for x in answer[:3]]}")
    expected = ["stuck-on-lock", "stuck-sleeping", "stuck-waiting-for-event"]
    expect("the-checker" not in answer, "the answer includes the task that called find_stuck_tasks; leave out "
                                        "`asyncio.current_task()`")
    expect(not {"finishes-at-once", "finishes-soon"} & set(answer),
           f"the answer {answer} includes tasks that finished during the wait: keep only those not `done()`")
    expect("started-during-the-wait" not in answer,
           f"the answer {answer} includes a task created during the wait: take the snapshot of "
           f"`asyncio.all_tasks()` before you sleep, and report tasks from that snapshot")
    expect(same(sorted(answer), expected), f"find_stuck_tasks(0.3) returned {answer}; expected the names {expected}")
    expect(same(answer, expected), f"the names are right but not sorted: return `sorted(...)`, got {answer}")
    expect(not alive, f"tasks still alive on the check's loop after it cleaned up: {alive}")


# -- 07.transaction -------------------------------------------------------------------------------

_INSERT = "INSERT INTO notes (id, text) VALUES (?, 'draft')"
_UPDATE = "UPDATE notes SET text = 'final' WHERE id = ?"
_AWAITS = ("BEGIN", "INSERT", "UPDATE", "COMMIT")   # the awaits of `_write`, in order
_ORDINAL = {1: "1st", 2: "2nd", 3: "3rd", 4: "4th"}


async def _write(transaction: Callable[[Any], Any], db: Any, note_id: int) -> None:
    """A two-statement write, the shape of every write in the app."""
    async with transaction(db) as conn:
        expect(conn is db.conn, f"`async with transaction(db) as conn` gave {type(conn).__name__}; yield "
                                f"`db.conn`, the connection the statements run on")
        await conn.execute(_INSERT, (note_id,))
        await conn.execute(_UPDATE, (note_id,))


def _cancel_at(db: Any, *calls: int) -> list[str]:
    """Make the ``calls``-th ``db.conn.execute`` calls cancel the calling task right after queuing their
    statement: what a timeout or a server's shutdown does at that await (the statement still runs)."""
    real = db.conn.execute
    seen: list[str] = []

    def execute(sql: str, *args: Any) -> Any:
        seen.append(sql)
        if len(seen) in calls:
            task = asyncio.current_task()
            if task is not None:
                task.cancel()
        return real(sql, *args)

    db.conn.execute = execute
    return seen


async def _committed(path: str, sql: str) -> int:
    """A count through a second connection: it sees committed rows only."""
    import aiosqlite

    async with aiosqlite.connect(path) as other:
        async with other.execute(sql) as cursor:
            return (await cursor.fetchone())[0]


async def _fresh_db(folder: str, name: str) -> tuple[Any, str]:
    from bookshelf.db import connect

    path = f"{folder}/{name}.db"
    db = await connect(path)
    await db.conn.execute("CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)")
    return db, path


async def _transaction_basics(transaction: Callable[[Any], Any], folder: str) -> None:
    """Commits, rolls back on an error (re-raising it), and keeps two concurrent writes apart."""
    db, path = await _fresh_db(folder, "basics")
    try:
        await asyncio.wait_for(_write(transaction, db, 1), 5)
        expect(not db.conn.in_transaction, "after `async with transaction(db)` ended normally, the connection was "
                                           "still inside a transaction: COMMIT after the `yield`")
        expect(await _committed(path, "SELECT count(*) FROM notes WHERE id = 1 AND text = 'final'") == 1,
               "a write inside `async with transaction(db)` was not committed: another connection cannot see it")

        class Oops(Exception):
            pass

        try:
            async with transaction(db) as conn:
                await conn.execute(_INSERT, (2,))
                raise Oops("the body failed")
        except Oops:
            pass
        else:
            raise CheckFailed("an exception raised inside `async with transaction(db)` did not come out of it: "
                              "roll back, then re-raise (`raise`)")
        expect(not db.conn.in_transaction, "after the body raised, the connection was still inside a transaction: "
                                           "ROLLBACK when the body raises")
        expect(await _committed(path, "SELECT count(*) FROM notes WHERE id = 2") == 0,
               "the body raised, yet its INSERT was committed: roll back on an error, never commit")

        results = await asyncio.wait_for(
            asyncio.gather(*(_write(transaction, db, n) for n in (3, 4)), return_exceptions=True), 10)
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            raise CheckFailed(f"two transactions at once: one failed with {type(failed[0]).__name__}: {failed[0]}. "
                              f"One connection holds one transaction at a time: hold `db._write_lock` (an "
                              f"asyncio.Lock) from BEGIN to COMMIT")
        expect(await _committed(path, "SELECT count(*) FROM notes WHERE id IN (3, 4)") == 2,
               "two concurrent transactions did not both commit")
    finally:
        await db.close()


async def _transaction_cancelled(transaction: Callable[[Any], Any], folder: str, at: int, again: bool) -> None:
    """Cancel the ``at``-th await (and the next one, the cleanup's, when ``again``); then the connection must be
    out of any transaction, the cancellation must come through, and later writes must commit."""
    db, path = await _fresh_db(folder, f"cancel-{at}-{int(again)}")
    try:
        real = db.conn.execute
        seen = _cancel_at(db, *((at, at + 1) if again else (at,)))
        task = asyncio.create_task(_write(transaction, db, 1), name="write-to-cancel")
        await asyncio.wait({task}, timeout=5)
        db.conn.execute = real
        expect(task.done(), f"a transaction cancelled at its {_ORDINAL[at]} await never finished: a cancelled "
                            f"transaction must end (release the lock, re-raise the cancellation)")
        where = f"{seen[at - 1].split()[0]}" if len(seen) >= at else _AWAITS[at - 1]
        what = f"cancelled at its await of {where}" + (" and again during the cleanup" if again else "")
        if not task.cancelled():
            error = task.exception()
            if isinstance(error, CheckFailed):
                raise error
            raise CheckFailed(f"{what}, the transaction raised {type(error).__name__}: {error} instead of letting "
                              f"the CancelledError through. A cancelled COMMIT has still run, so ROLLBACK may find "
                              f"no transaction: tolerate that (`db._rollback()` does), and re-raise the "
                              f"cancellation")
        await asyncio.wait_for(db.conn.execute("SELECT 1"), 5)   # every statement already queued has run
        if db.conn.in_transaction:
            raise CheckFailed(f"{what}, the connection stayed inside a transaction: every later write on it is "
                              f"lost. Put every await, BEGIN too, inside the `try` whose `except BaseException` "
                              f"rolls back (CancelledError is not an Exception)")
        try:
            await asyncio.wait_for(_write(transaction, db, 2), 5)
        except asyncio.TimeoutError:
            raise CheckFailed(f"{what}, the next transaction waited for ever: release the lock whatever "
                              f"happens (`async with db._write_lock:`)") from None
        await db.conn.execute("INSERT INTO notes (id, text) VALUES (3, 'plain')")
        expect(await _committed(path, "SELECT count(*) FROM notes WHERE id IN (2, 3)") == 2,
               f"{what}, later writes were not committed")
        kept = await _committed(path, "SELECT count(*) FROM notes WHERE id = 1")
        if where == "COMMIT":
            expect(kept == 1, "cancelled at COMMIT, the write was lost; a COMMIT that was sent has run: do not "
                              "undo it")
        else:
            expect(kept == 0, f"{what}, half of the write was kept: all or nothing")
    finally:
        await db.close()


@exercise("07.transaction", target="transaction", points=2, timeout=60)
async def check_transaction(transaction: Callable[[Any], Any]) -> None:
    """Commits, rolls back, keeps writes apart, and survives a cancellation at every await (and in its cleanup)."""
    import inspect
    import tempfile

    inner = inspect.unwrap(transaction)
    with tempfile.TemporaryDirectory(prefix="check07-") as folder:
        if not inspect.isasyncgenfunction(inner):
            if inspect.iscoroutinefunction(inner):   # the stub: no `yield` yet, it raises NotImplementedError
                db, _ = await _fresh_db(folder, "stub")
                try:
                    await inner(db)
                finally:
                    await db.close()
            raise CheckFailed("transaction should be an `async def` with one `yield`, decorated with "
                              "@asynccontextmanager")
        await _transaction_basics(transaction, folder)
        for again in (False, True):
            for at in range(1, len(_AWAITS) + 1):
                await _transaction_cancelled(transaction, folder, at, again)
