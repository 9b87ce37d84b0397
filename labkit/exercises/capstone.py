"""The capstone's acceptance suite: ``GET /recommendations`` judged over real HTTP, criterion by criterion.

It judges a running app from the outside, the way a client and an operator see it: status codes, payloads,
the limit on calls to the ratings service, the deadline, the cache, and request ids in the responses and in
the log. It needs

* the app's base URL;
* a :class:`RatingsService` it controls (served in this process), which the app must call instead of its
  own: ``RatingsService.env(...)`` gives the ``BOOKSHELF_*`` variables for ``uvicorn``, and
  ``RatingsService.settings(...)`` the ``Settings`` changes for ``create_app``. Both set the app's upstream
  timeout to ``UPSTREAM_TIMEOUT`` seconds, so that only the endpoint's own deadline can end a wait early;
* ``read_log()``, the app's log so far as text, where each line of the logger ``bookshelf.recommendations``
  names that logger and the request's id (``LOG_FORMAT`` does; :func:`capture_log` collects such lines in
  this process, and a ``uvicorn`` process's output holds them when its app logs in that format).

    with RatingsService() as ratings:
        server = labkit.outside.uvicorn("myshelf.main:app", env=ratings.env(database=path))
        report = await acceptance(server.url, ratings, lambda: server.log(10**9))
        print(report)            # one line per criterion with its points, then the score

The suite sets the shelf it needs through ``/shelf`` (so the app must be stage 4 or later), and it holds no
answer: it only compares what the app says with what the seed data and the ratings service imply.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from ..checks import FAILED, MARKS, PASSED

__all__ = ["UPSTREAM_TIMEOUT", "LOG_FORMAT", "LOGGER", "CRITERIA", "SHELF", "Criterion", "Report",
           "RatingsService", "capture_log", "expected_items", "shelves", "acceptance"]

UPSTREAM_TIMEOUT = 5.0
"""Seconds the app under test may wait for one rating: far beyond any deadline the suite tests."""
LOGGER = "bookshelf.recommendations"
LOG_FORMAT = "%(levelname)s %(name)s [%(request_id)s] %(message)s"
"""A log format whose lines name their logger and request id (needs ``RequestIdFilter`` on the handler)."""
SHELF = (1, 100, 299)   # Sense and Sensibility, Tom Brown's School Days, A Treatise of Human Nature
SLACK = 1.5             # seconds an answer may take beyond the deadline (a busy machine, a slow client)

CRITERIA: dict[str, tuple[int, str]] = {
    "empty shelf": (1, "an empty shelf: 200 with no items, not partial"),
    "payload": (2, "the right books with their ratings, ranked, at most `candidates` of them"),
    "single flight": (2, "concurrent identical requests: all 200, each rating fetched at most once"),
    "limit": (1, "never more than `limit` rating calls at once, and that many reached"),
    "cache": (1, "a repeated request makes no new rating call"),
    "deadline": (2, "ratings that hang: an answer by the deadline, partial, the hanging books missing and "
                    "ranked last; complete again once the service recovers"),
    "upstream errors": (1, "the ratings service failing: 200 with every rating missing, not an error; "
                           "failures are not cached"),
    "request ids": (2, "every response echoes its X-Request-ID, and every request logs a line with its id "
                       f"on `{LOGGER}`"),
}
"""Each criterion's points and what it asks for."""


@dataclass(frozen=True)
class Criterion:
    """One criterion's verdict: its points if it passed, and what was wrong if not."""

    name: str
    points: int
    passed: bool
    detail: str = ""

    def __str__(self) -> str:
        got = self.points if self.passed else 0
        text = f"{MARKS[PASSED] if self.passed else MARKS[FAILED]} {got}/{self.points}  {self.name}: {CRITERIA[self.name][1]}"
        return text if self.passed else f"{text}\n      {self.detail}"


@dataclass(frozen=True)
class Report:
    """The verdict on every criterion, in the order of :data:`CRITERIA`."""

    criteria: tuple[Criterion, ...]

    @property
    def score(self) -> int:
        """Points earned."""
        return sum(c.points for c in self.criteria if c.passed)

    @property
    def total(self) -> int:
        """Points possible."""
        return sum(c.points for c in self.criteria)

    @property
    def passed(self) -> bool:
        """True when every criterion passed."""
        return all(c.passed for c in self.criteria)

    def failed(self) -> list[Criterion]:
        """The criteria that did not pass."""
        return [c for c in self.criteria if not c.passed]

    def __str__(self) -> str:
        return "\n".join([*map(str, self.criteria), f"acceptance: {self.score}/{self.total} points"])


# -- what the app should answer --------------------------------------------------------------------

def expected_items(books: Sequence[Any], shelf: Sequence[int], candidates: int,
                   ratings: dict[int, float | None]) -> list[dict[str, Any]]:
    """The items a correct app answers: top ``candidates`` by shared subjects (ties by id), ranked by rating."""
    subjects = {s for b in books if b.id in shelf for s in b.subjects}
    scored = [(len(set(b.subjects) & subjects), b) for b in books if b.id not in shelf]
    top = sorted((x for x in scored if x[0] > 0), key=lambda x: (-x[0], x[1].id))[:candidates]
    items = [{"book_id": b.id, "title": b.title, "author": b.author, "shared_subjects": n,
              "rating": ratings.get(b.id)} for n, b in top]
    return sorted(items, key=lambda i: (i["rating"] is None, -(i["rating"] or 0.0), -i["shared_subjects"],
                                        i["book_id"]))


def shelves(books: Sequence[Any], candidates: int) -> tuple[tuple[int, ...], ...]:
    """Three shelves whose candidates are disjoint: :data:`SHELF`, then two one-book shelves found in the data."""
    chosen = [SHELF]
    used = set(SHELF) | {i["book_id"] for i in expected_items(books, SHELF, candidates, {})}
    for book in books:
        if len(chosen) == 3:
            break
        if book.id in used:
            continue
        ids = {i["book_id"] for i in expected_items(books, (book.id,), candidates, {})}
        if len(ids) == candidates and not ids & used:
            chosen.append((book.id,))
            used |= ids | {book.id}
    if len(chosen) < 3:
        raise ValueError(f"the seed data has no three shelves with {candidates} separate candidates each")
    return tuple(chosen)


# -- the ratings service the suite controls ----------------------------------------------------------

class RatingsService:
    """A ratings service served over HTTP in this process: it counts calls and can hang or fail on demand."""

    def __init__(self, *, name: str | None = None) -> None:
        self.name = name or f"acceptance-ratings-{id(self):x}"
        self.calls: Counter[int] = Counter()
        self.in_flight = 0
        self.max_in_flight = 0
        self.delay = 0.05
        self.hang: frozenset[int] = frozenset()
        self.down = False
        self._released = threading.Event()
        self._server: Any = None
        self.app = self._build()

    @staticmethod
    def average(book_id: int) -> float:
        """The rating every book gets (a few ties on purpose)."""
        return round(2.5 + (book_id * 37 % 13) / 5, 2)

    def _build(self) -> Any:
        from fastapi import FastAPI, HTTPException

        app = FastAPI(title="ratings service of the acceptance suite")

        @app.get("/ratings/{book_id}")
        async def rating(book_id: int) -> dict[str, Any]:
            released = self._released
            self.calls[book_id] += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            try:
                if book_id in self.hang:
                    while not released.is_set():
                        await asyncio.sleep(0.005)
                else:
                    await asyncio.sleep(self.delay)
            finally:
                self.in_flight -= 1
            if self.down:
                raise HTTPException(503, "ratings service unavailable (the acceptance suite says so)")
            return {"average": self.average(book_id), "count": 10}

        return app

    def reset(self, *, delay: float = 0.05, hang: Sequence[int] = (), down: bool = False) -> None:
        """Forget the calls seen so far and behave as told from the next call on."""
        self._released.set()                    # anything still hanging from before goes
        self._released = threading.Event()
        self.calls = Counter()
        self.max_in_flight = self.in_flight
        self.delay, self.hang, self.down = delay, frozenset(hang), down

    def release(self) -> None:
        """Let the hanging calls answer (the service recovers)."""
        self._released.set()

    async def settled(self, books: Sequence[int], timeout: float) -> bool:
        """Wait until every book in ``books`` was asked for and no call is in flight (at most ``timeout`` s)."""
        end = time.monotonic() + timeout
        while (self.in_flight or not set(books) <= set(self.calls)) and time.monotonic() < end:
            await asyncio.sleep(0.01)
        return self.in_flight == 0 and set(books) <= set(self.calls)

    async def drained(self, timeout: float) -> bool:
        """Wait until no call is in flight (at most ``timeout`` seconds); True if none is."""
        end = time.monotonic() + timeout
        while self.in_flight and time.monotonic() < end:
            await asyncio.sleep(0.01)
        return self.in_flight == 0

    def start(self) -> "RatingsService":
        """Serve it in a thread of this process (labkit.serve; another one served under its name stops)."""
        from ..serving import serve

        self._server = serve(self.app, name=self.name)
        return self

    def stop(self) -> None:
        """Stop serving it."""
        self.release()
        if self._server is not None:
            self._server.stop()
            self._server = None

    @property
    def url(self) -> str:
        """Its base URL (start it first)."""
        if self._server is None:
            raise RuntimeError("start the ratings service first: `with RatingsService() as ratings:`")
        return self._server.url

    def env(self, *, database: str) -> dict[str, str]:
        """``BOOKSHELF_*`` variables that point a ``uvicorn`` app at this service, with a fresh database file."""
        return {"BOOKSHELF_RATINGS_URL": self.url, "BOOKSHELF_UPSTREAM_TIMEOUT": str(UPSTREAM_TIMEOUT),
                "BOOKSHELF_DB": database}

    def settings(self) -> dict[str, Any]:
        """``Settings`` changes that point an app built with ``create_app`` at this service."""
        return {"ratings_url": self.url, "upstream_timeout": UPSTREAM_TIMEOUT}

    def __enter__(self) -> "RatingsService":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextmanager
def capture_log() -> Iterator[Callable[[], str]]:
    """Collect the lines logged on ``bookshelf.recommendations`` in this process, in ``LOG_FORMAT``.

    Yields ``read_log``; while the block runs, the logger logs at INFO and its lines go only here.
    """
    from bookshelf.observability import RequestIdFilter

    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Keep(logging.INFO)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    logger = logging.getLogger(LOGGER)
    old = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield lambda: "\n".join(lines)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old[0])
        logger.propagate = old[1]


# -- the suite ---------------------------------------------------------------------------------------

class _Stop(Exception):
    """A scenario cannot go on (the app failed in a way that leaves nothing more to judge there)."""

    def __init__(self, message: str, *, timed_out: bool = False) -> None:
        super().__init__(message)
        self.timed_out = timed_out


class _Suite:
    """The state of one run: the client, the ids sent, and what failed."""

    def __init__(self, client: httpx.AsyncClient, ratings: RatingsService, *, limit: int, deadline: float,
                 candidates: int) -> None:
        from bookshelf.catalogue import load_books
        from bookshelf.settings import DATA_FILE

        self.client, self.ratings = client, ratings
        self.limit, self.deadline, self.candidates = limit, deadline, candidates
        self.books = load_books(DATA_FILE)
        self.token = secrets.token_hex(3)
        self.sent: list[str] = []
        self.answered: set[str] = set()
        self.echo_wrong: list[str] = []
        self.failures: dict[str, str] = {}
        self.most_in_flight = 0

    def fail(self, name: str, detail: str) -> None:
        self.failures.setdefault(name, detail)

    def expect(self, name: str, condition: object, detail: str) -> None:
        if not condition:
            self.fail(name, detail)

    def new_id(self) -> str:
        rid = f"acc{self.token}-{len(self.sent):03d}"
        self.sent.append(rid)
        return rid

    async def set_shelf(self, ids: Sequence[int]) -> None:
        """Make the app's shelf hold exactly ``ids``, through its /shelf endpoints."""
        r = await self.client.get("/shelf")
        if r.status_code != 200 or not isinstance(r.json(), list):
            raise _Stop(f"GET /shelf answered {r.status_code} {r.text[:120]}: the suite sets the shelf through it")
        there = {e.get("book_id") for e in r.json() if isinstance(e, dict)}
        for book_id in sorted(there - set(ids)):
            r = await self.client.delete(f"/shelf/{book_id}")
            if r.status_code != 204:
                raise _Stop(f"DELETE /shelf/{book_id} answered {r.status_code} {r.text[:120]}")
        for book_id in ids:
            if book_id not in there:
                r = await self.client.post("/shelf", json={"book_id": book_id})
                if r.status_code != 201:
                    raise _Stop(f"POST /shelf {{'book_id': {book_id}}} answered {r.status_code} {r.text[:120]}")

    async def get(self, what: str, *, timeout: float | None = None) -> dict[str, Any]:
        """GET /recommendations with a fresh request id; the body, or _Stop saying what was wrong."""
        rid = self.new_id()
        try:
            r = await self.client.get("/recommendations", headers={"X-Request-ID": rid},
                                      timeout=timeout or UPSTREAM_TIMEOUT * 2)
        except httpx.TimeoutException:
            raise _Stop(f"{what}: GET /recommendations did not answer within "
                        f"{timeout or UPSTREAM_TIMEOUT * 2:g} s", timed_out=True) from None
        if r.headers.get("x-request-id") != rid:
            self.echo_wrong.append(f"sent X-Request-ID {rid}, the response said {r.headers.get('x-request-id')!r}")
        if r.status_code != 200:
            raise _Stop(f"{what}: GET /recommendations answered {r.status_code} {r.text[:160]}")
        self.answered.add(rid)
        body = r.json()
        if not (isinstance(body, dict) and {"items", "partial", "missing"} <= set(body)
                and isinstance(body["items"], list)):
            raise _Stop(f"{what}: the body should have 'items', 'partial' and 'missing'; got {r.text[:160]}")
        return body

    def note_in_flight(self) -> None:
        self.most_in_flight = max(self.most_in_flight, self.ratings.max_in_flight)

    async def scenario(self, names: Sequence[str], run: Callable[[], Any]) -> None:
        """Run one scenario; if it stops, every criterion it judges that has not failed yet fails with why."""
        try:
            await run()
        except (_Stop, httpx.HTTPError) as exc:
            why = str(exc) if isinstance(exc, _Stop) else f"the app could not be reached ({type(exc).__name__}: {exc})"
            for name in names:
                self.fail(name, why)
        finally:
            self.ratings.release()
            await self.ratings.drained(UPSTREAM_TIMEOUT + 1)
            self.note_in_flight()

    @staticmethod
    def compare(items: list[Any], want: list[dict[str, Any]]) -> str:
        """What differs between the items answered and the items wanted ("" when nothing does)."""
        got_ids = [i.get("book_id") if isinstance(i, dict) else i for i in items]
        want_ids = [i["book_id"] for i in want]
        if sorted(map(str, got_ids)) != sorted(map(str, want_ids)):
            return (f"the books are {sorted(got_ids, key=str)}; expected {sorted(want_ids)}: the books not on the "
                    f"shelf that share the most subjects with it (ties: lower id first)")
        if got_ids != want_ids:
            return f"the order is {got_ids}; expected {want_ids}: rated first, best first, then shared subjects, id"
        for got, exp in zip(items, want):
            if not isinstance(got, dict):
                return f"an item is {got!r}; expected an object like {exp}"
            wrong = {k: got.get(k) for k in exp if got.get(k) != exp[k]}
            if wrong:
                return f"book {exp['book_id']}: got {wrong}, expected {({k: exp[k] for k in wrong})}"
        return ""

    def want(self, shelf: Sequence[int], without: Sequence[int] = ()) -> list[dict[str, Any]]:
        ratings = {b.id: (None if b.id in without else self.ratings.average(b.id)) for b in self.books}
        return expected_items(self.books, shelf, self.candidates, ratings)


async def _empty(s: _Suite) -> None:
    await s.set_shelf(())
    s.ratings.reset()
    body = await s.get("with an empty shelf")
    s.expect("empty shelf", body["items"] == [] and body["partial"] is False and body["missing"] == [],
             f"with an empty shelf expected items [], partial false, missing []; got {str(body)[:200]}")


async def _crowd(s: _Suite, shelf: Sequence[int], crowd: int) -> None:
    await s.set_shelf(shelf)
    s.ratings.reset(delay=0.05)
    want = s.want(shelf)
    want_ids = {i["book_id"] for i in want}
    answers = await asyncio.gather(*(s.get(f"one of {crowd} concurrent requests") for _ in range(crowd)),
                                   return_exceptions=True)
    await s.ratings.settled(want_ids, UPSTREAM_TIMEOUT)   # fetches still queued in the app reach the service
    for answer in answers:
        if isinstance(answer, BaseException):
            raise answer
    bodies: list[dict[str, Any]] = list(answers)  # type: ignore[arg-type]
    calls = dict(s.ratings.calls)
    differ = [sorted(i.get("book_id") for i in b["items"] if isinstance(i, dict)) for b in bodies
              if {i.get("book_id") for i in b["items"] if isinstance(i, dict)} != want_ids]
    s.expect("single flight", not differ, f"{len(differ)} of the {crowd} concurrent requests listed other books, "
                                          f"e.g. {differ[:1]}; expected {sorted(want_ids)}")
    repeated = {book: n for book, n in calls.items() if n > 1}
    s.expect("single flight", not repeated,
             f"{crowd} concurrent identical requests fetched some ratings more than once (book: calls) {repeated}: "
             f"keep one in-flight task per book and let later requests await it")
    s.expect("single flight", set(calls) == want_ids,
             f"ratings were fetched for books {sorted(calls)}; expected the candidates {sorted(want_ids)}")
    top = min(s.limit, len(want_ids))
    s.expect("limit", s.ratings.max_in_flight <= s.limit,
             f"{s.ratings.max_in_flight} rating calls were in flight at once; the limit is {s.limit}: one "
             f"semaphore for the whole app, held around each call")
    s.expect("limit", s.ratings.max_in_flight >= top,
             f"at most {s.ratings.max_in_flight} rating call(s) ran at once with a limit of {s.limit}: fetch the "
             f"ratings concurrently, not one after another")
    s.note_in_flight()
    before = sum(s.ratings.calls.values())
    again = await s.get("a repeated request")
    s.expect("cache", sum(s.ratings.calls.values()) == before,
             f"a repeated request made {sum(s.ratings.calls.values()) - before} new rating call(s): keep the "
             f"ratings you fetched")
    problem = _Suite.compare(again["items"], want)
    s.expect("payload", not problem, f"with every rating in: {problem}")
    s.expect("payload", again["partial"] is False and again["missing"] == [],
             f"with every rating in, expected partial false and missing []; got partial={again['partial']!r} "
             f"missing={again['missing']!r}")
    s.expect("payload", len(again["items"]) <= s.candidates,
             f"{len(again['items'])} items; at most {s.candidates} (`candidates`)")


async def _deadline(s: _Suite, shelf: Sequence[int]) -> None:
    await s.set_shelf(shelf)
    full = s.want(shelf)
    # the best and the worst rated hang; they hold places of the limit, so at least one place stays free
    hang = sorted({full[0]["book_id"], full[-1]["book_id"]} if s.limit > 2 else {full[0]["book_id"]})
    s.ratings.reset(delay=0.0, hang=hang)
    started = time.perf_counter()
    try:
        body = await s.get("with ratings hanging", timeout=s.deadline + SLACK + 2)
    except _Stop as exc:
        if not exc.timed_out:
            raise
        raise _Stop(f"{exc}; the deadline is {s.deadline} s: answer with what has arrived by then") from None
    took = time.perf_counter() - started
    s.expect("deadline", took <= s.deadline + SLACK,
             f"with the ratings of books {hang} hanging, the answer took {took:.2f} s; the deadline is "
             f"{s.deadline} s: stop waiting then (asyncio.wait(..., timeout=...))")
    more = isinstance(body["missing"], list) and set(hang) < set(body["missing"])
    s.expect("deadline", body["partial"] is True and body["missing"] == hang,
             f"with the ratings of books {hang} hanging, expected partial true and missing {hang}; got "
             f"partial={body['partial']!r} missing={body['missing']!r}"
             + (" (if the machine was very busy, the other ratings may really have come too late: run the suite "
                "again)" if more else ""))
    problem = _Suite.compare(body["items"], s.want(shelf, without=hang))
    s.expect("deadline", not problem, f"with ratings missing: {problem} (a book without a rating has "
                                      f"rating null and comes last)")
    s.ratings.release()
    await s.ratings.settled([i["book_id"] for i in full], UPSTREAM_TIMEOUT)
    if not await s.ratings.drained(UPSTREAM_TIMEOUT + 1):
        raise _Stop("the app kept calls to the ratings service open after it recovered")
    s.note_in_flight()
    later = await s.get("after the ratings service recovered")
    s.expect("deadline", later["partial"] is False and not _Suite.compare(later["items"], full),
             f"after the ratings service recovered, expected the complete answer; got partial="
             f"{later['partial']!r} missing={later['missing']!r}: do not cache a missing rating")


async def _errors(s: _Suite, shelf: Sequence[int]) -> None:
    await s.set_shelf(shelf)
    s.ratings.reset(delay=0.0, down=True)
    everything = s.want(shelf)
    ids = sorted(i["book_id"] for i in everything)
    body = await s.get("with the ratings service answering 503")
    s.expect("upstream errors", body["partial"] is True and body["missing"] == ids,
             f"with the ratings service answering 503, expected partial true and every candidate missing; got "
             f"partial={body['partial']!r} missing={body['missing']!r}")
    problem = _Suite.compare(body["items"], s.want(shelf, without=ids))
    s.expect("upstream errors", not problem, f"with no rating at all: {problem}")
    await s.ratings.settled(ids, UPSTREAM_TIMEOUT)      # every failing call is over before the service comes back
    s.note_in_flight()
    s.ratings.reset(delay=0.0)
    later = await s.get("after the ratings service came back")
    s.expect("upstream errors", later["partial"] is False and not _Suite.compare(later["items"], everything),
             f"after the ratings service came back, expected the complete answer; got partial="
             f"{later['partial']!r} missing={later['missing']!r}: a failed fetch must not be cached")


def _judge_logs(s: _Suite, lines: list[str]) -> None:
    s.expect("request ids", not s.echo_wrong, f"{len(s.echo_wrong)} response(s) did not echo their id, e.g. "
                                              f"{s.echo_wrong[:1]}: instrument the app (lesson 07)")
    ours = [line for line in lines if LOGGER in line]
    s.expect("request ids", ours, f"no line logged on `{LOGGER}` while the suite ran: log a line or two per "
                                  f"request there, and make the log name the logger and the request id")
    strangers = [line for line in ours if s.token not in line]
    s.expect("request ids", not strangers,
             f"{len(strangers)} line(s) on `{LOGGER}` carry no request id of the suite, e.g. {strangers[:1]}: "
             f"log from the endpoint (or tasks it creates), with the request-id middleware in place")
    silent = [rid for rid in s.sent if not any(rid in line for line in ours)]
    asked = [rid for rid in silent if rid in s.answered]
    s.expect("request ids", not asked, f"{len(asked)} request(s) logged no line with their id on `{LOGGER}`, "
                                       f"e.g. {asked[:3]}")


async def acceptance(base_url: str, ratings: RatingsService, read_log: Callable[[], str], *, limit: int = 4,
                     deadline: float = 0.5, candidates: int = 10, crowd: int = 20) -> Report:
    """Judge ``GET /recommendations`` of the app at ``base_url``; ``limit``, ``deadline``, ``candidates`` as it was built."""
    if limit < 2 or candidates < 2:
        raise ValueError("the suite needs limit >= 2 (a hanging rating must leave a place free) and candidates >= 2")
    mark = len(read_log().splitlines())
    async with httpx.AsyncClient(base_url=base_url, timeout=UPSTREAM_TIMEOUT * 2) as client:
        s = _Suite(client, ratings, limit=limit, deadline=deadline, candidates=candidates)
        a, b, c = shelves(s.books, candidates)
        await s.scenario(["empty shelf"], lambda: _empty(s))
        await s.scenario(["single flight", "limit", "cache", "payload"], lambda: _crowd(s, a, crowd))
        await s.scenario(["deadline"], lambda: _deadline(s, b))
        await s.scenario(["upstream errors"], lambda: _errors(s, c))
        s.expect("limit", s.most_in_flight <= limit,
                 f"{s.most_in_flight} rating calls were in flight at once in one of the scenarios; the limit is "
                 f"{limit}")
    await asyncio.sleep(0.05)   # the last lines of a separate process reach its log
    _judge_logs(s, read_log().splitlines()[mark:])
    return Report(tuple(Criterion(name, points, name not in s.failures, s.failures.get(name, ""))
                        for name, (points, _) in CRITERIA.items()))
