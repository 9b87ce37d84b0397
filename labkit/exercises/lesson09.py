"""Lesson 09 (Performance under load, and the capstone): checks of the three exercises.

The checks observe behaviour only. Percentiles and run summaries are compared with answers computed here
from fixed samples. The capstone runs the learner's endpoint on the Bookshelf app with the learner's parts
(``labkit.myshelf.app_parts``: theirs, or the stand-ins), in-memory database, its lifespan started, with a
recording stand-in for the ratings service: it counts calls per book and the most calls in flight at once,
and holds chosen books' ratings until the check releases them, so "hanging", "one fetch per book" and
"never above the limit" are facts, not timings. The only clock in these checks is a generous bound on how
long a request with a hanging upstream may take (its deadline plus 2 s). A shutdown while ratings still hang
must leave no task of the endpoint running. Then the same app is served over real HTTP and judged by the
capstone's acceptance suite (:mod:`labkit.exercises.capstone`).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from ..checks import CheckFailed, exercise, expect, same
from ..load import LoadResult, Sample
from ..myshelf import app_parts_quietly
from .capstone import SHELF, expected_items

__all__ = ["check_percentiles", "check_summarize_runs", "check_recommendations", "FakeRatings", "SHELF",
           "expected_items"]


# -- 09.percentiles --------------------------------------------------------------------------------

def _nearest_rank(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q / 100 * len(ordered))) - 1]


@exercise("09.percentiles", target="percentiles", points=1, timeout=10, sealed=True)
def check_percentiles(percentiles: Callable[..., Any]) -> None:
    """Nearest rank: always an observed value; one sample; ties; unsorted input left alone; empty is an error."""
    hundred = [float(i) for i in range(100, 0, -1)]            # 100, 99, ..., 1: unsorted on purpose
    copy = list(hundred)
    got = percentiles(hundred)
    expect(isinstance(got, dict), f"percentiles(...) returned {type(got).__name__}; expected a dict like "
                                  f"{{'p50': ..., 'p95': ..., 'p99': ...}}")
    expect(set(got) == {"p50", "p95", "p99"}, f"the keys are {sorted(got)}; expected ['p50', 'p95', 'p99']")
    expect(hundred == copy, "percentiles changed the list it was given: sort a copy (`sorted(values)`)")
    expect(same(got, {"p50": 50.0, "p95": 95.0, "p99": 99.0}),
           f"for the latencies 1, 2, ..., 100 (in any order) expected p50=50, p95=95, p99=99, got {got}")
    four = percentiles([4.0, 1.0, 3.0, 2.0], qs=(25, 50, 75, 100))
    expect(set(four) == {"p25", "p50", "p75", "p100"},
           f"with qs=(25, 50, 75, 100) the keys should be p25, p50, p75, p100; got {sorted(four)}")
    expect(four["p50"] == 2.0,
           f"p50 of [1, 2, 3, 4] is 2 with the nearest-rank method (rank ceil(0.50 x 4) = 2); got {four['p50']}. "
           f"Interpolating between values (2.5) is another method: nearest rank always returns a measured value")
    expect(same(four, {"p25": 1.0, "p50": 2.0, "p75": 3.0, "p100": 4.0}),
           f"for [4, 1, 3, 2] with qs=(25, 50, 75, 100) expected 1, 2, 3, 4; got {four}")
    one = percentiles([0.123])
    expect(same(one, {"p50": 0.123, "p95": 0.123, "p99": 0.123}),
           f"with a single latency every percentile is that latency; got {one}")
    ten = [0.01] * 9 + [0.5]                                   # one slow request in ten
    got10 = percentiles(ten)
    expect(same(got10, {"p50": 0.01, "p95": 0.5, "p99": 0.5}),
           f"for nine requests of 0.01 s and one of 0.5 s expected p50=0.01, p95=p99=0.5 (with 10 samples, "
           f"rank ceil(0.95 x 10) = 10 is the slowest); got {got10}")
    ties = [0.2, 0.1, 0.2, 0.2, 0.3]
    got_ties = percentiles(ties, qs=(40, 60, 80))
    want = {f"p{q}": _nearest_rank(ties, q) for q in (40, 60, 80)}
    expect(same(got_ties, want), f"for {ties} with qs=(40, 60, 80) expected {want}; got {got_ties}")
    frac = percentiles([1.0, 2.0, 3.0], qs=(99.9,))
    expect(set(frac) == {"p99.9"} and frac["p99.9"] == 3.0,
           f"qs=(99.9,) should give the key 'p99.9' (use f'p{{q:g}}') with the value 3.0; got {frac}")
    try:
        percentiles([])
    except ValueError:
        pass
    except Exception as exc:  # noqa: BLE001 - reported to the learner
        raise CheckFailed(f"percentiles([]) raised {type(exc).__name__}; raise ValueError (no samples, no "
                          f"percentiles)") from None
    else:
        raise CheckFailed("percentiles([]) returned a value; raise ValueError: there is no latency to report")


# -- 09.summarize_runs -----------------------------------------------------------------------------

def _run(label: str, n_ok: int, latency: float, seconds: float, *, errors: int = 0, slow: int = 0,
         slow_latency: float = 1.0, concurrency: int = 10) -> LoadResult:
    """A synthetic run: ``n_ok`` answers (``slow`` of them taking ``slow_latency``), ``errors`` fast 503s."""
    samples = [Sample(i * seconds / max(1, n_ok), slow_latency if i < slow else latency, 200) for i in range(n_ok)]
    samples += [Sample(i * seconds / max(1, errors), 0.001, 503) for i in range(errors)]
    return LoadResult(label, f"http://127.0.0.1/{label}", concurrency, seconds, samples)


@exercise("09.summarize_runs", target="summarize_runs", points=2, timeout=10)
def check_summarize_runs(summarize_runs: Callable[..., Any]) -> None:
    """Best throughput counts successful answers only; the target needs p99 within it and no errors."""
    runs = [
        _run("c=5", 500, 0.010, 2.0),                             # 250 ok/s, p99 10 ms
        _run("c=20", 1600, 0.020, 2.0, slow=24, slow_latency=0.400),  # 800 ok/s, p99 400 ms (1.5 % slow)
        _run("c=10", 1000, 0.015, 2.0, slow=5, slow_latency=0.300),   # 500 ok/s, p99 15 ms (0.5 % slow)
        _run("c=50", 1200, 0.030, 2.0, errors=3000),              # 4200 req/s but only 600 ok/s; p99 30 ms
    ]
    got = summarize_runs(runs, p99_target=0.050)
    expect(isinstance(got, dict), f"summarize_runs returned {type(got).__name__}; expected a dict")
    keys = {"best_throughput", "meets_target", "recommended"}
    expect(set(got) == keys, f"the keys are {sorted(got)}; expected {sorted(keys)}")
    expect(got["best_throughput"] != "c=50",
           "best_throughput is 'c=50', whose requests/s is high because 3000 of its 4200 requests failed fast: "
           "count only successful answers (requests - errors) per second")
    expect(same(got["best_throughput"], "c=20"),
           f"best_throughput should be 'c=20' (800 successful answers/s), got {got['best_throughput']!r}")
    expect(isinstance(got["meets_target"], list), "meets_target should be a list of labels, in the runs' order")
    expect("c=20" not in got["meets_target"],
           "'c=20' does not meet a p99 target of 50 ms: 1.5 % of its requests took 400 ms, so its p99 is 400 ms")
    expect("c=50" not in got["meets_target"],
           "'c=50' had errors: a run with failed requests does not meet the target, however fast its p99 "
           "(percentiles are computed over successful requests only)")
    expect(same(got["meets_target"], ["c=5", "c=10"]),
           f"meets_target should be ['c=5', 'c=10'] (p99 10 ms and 15 ms, no errors), got {got['meets_target']}")
    expect(same(got["recommended"], "c=10"),
           f"recommended should be 'c=10': the most successful answers per second among the runs that meet the "
           f"target; got {got['recommended']!r}")
    none = summarize_runs(runs, p99_target=0.005)
    expect(same(none["meets_target"], []) and none["recommended"] is None,
           f"with a 5 ms target no run qualifies: expected meets_target [] and recommended None, got "
           f"{none['meets_target']} and {none['recommended']!r}")
    expect(same(none["best_throughput"], "c=20"), "best_throughput does not depend on the target")
    empty = LoadResult("all-failed", "http://127.0.0.1/x", 5, 1.0, [Sample(0.0, 0.001, None, "ConnectError")])
    lone = summarize_runs([empty], p99_target=10.0)
    expect(lone["meets_target"] == [] and lone["recommended"] is None,
           f"a run whose every request failed has no p99 (nan) and cannot meet a target; got {lone}")


# -- 09.recommendations ----------------------------------------------------------------------------

class FakeRatings:
    """Stands in for the app's ``Upstreams``: answers ``rating(book_id)`` after ``delay`` s, or, for the
    books in ``hang``, only once ``release`` is set; records calls per book and calls in flight."""

    def __init__(self, real: Any, *, delay: float = 0.005, hang: set[int] | frozenset[int] = frozenset()) -> None:
        self.client, self.urls, self.timeout = real.client, real.urls, real.timeout
        self.delay = delay
        self.hang = set(hang)
        self.release = asyncio.Event()
        self.calls: Counter[int] = Counter()
        self.in_flight = 0
        self.max_in_flight = 0

    @staticmethod
    def average(book_id: int) -> float:
        """The rating every book gets (a few ties on purpose)."""
        return round(2.5 + (book_id * 37 % 13) / 5, 2)

    async def rating(self, book_id: int) -> Any:
        from bookshelf.models import Rating

        self.calls[book_id] += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if book_id in self.hang:
                await self.release.wait()
            else:
                await asyncio.sleep(self.delay)
        finally:
            self.in_flight -= 1
        return Rating(average=self.average(book_id), count=10)

    async def price(self, book_id: int) -> Any:  # pragma: no cover - not the capstone's business
        raise CheckFailed("the recommendations endpoint should ask for ratings only, not prices")

    async def cover(self, book_id: int) -> Any:  # pragma: no cover
        raise CheckFailed("the recommendations endpoint should ask for ratings only, not covers")


class _Lines(logging.Handler):
    """Keeps each record with the request id current when it was logged."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.ids: list[str] = []
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        from bookshelf.observability import request_id

        self.ids.append(getattr(record, "request_id", None) or request_id.get())
        self.messages.append(record.getMessage())


async def _started(add_recommendations: Callable[..., Any], **options: Any) -> tuple[Any, Any]:
    """A fresh stage-6 app with the learner's route added; returns (app, the lifespan manager, not entered)."""
    from asgi_lifespan import LifespanManager

    from bookshelf import Settings, create_app

    app = create_app(Settings.ephemeral(), stage=6, parts=app_parts_quietly(9)[0])
    returned = add_recommendations(app, **options)   # a stub raises NotImplementedError right here
    expect(returned is None or returned is app, "add_recommendations should add the route to the app it was "
                                                "given (and return nothing, or that same app)")
    paths = {getattr(route, "path", None) for route in app.routes}
    expect("/recommendations" in paths, f"no GET /recommendations route on the app after add_recommendations "
                                        f"(routes: {sorted(p for p in paths if p)[:8]}...)")
    return app, LifespanManager(app, startup_timeout=10, shutdown_timeout=10)


def _items(response: httpx.Response, what: str) -> dict[str, Any]:
    expect(response.status_code == 200, f"{what}: GET /recommendations answered {response.status_code} "
                                        f"{response.text[:160]}")
    body = response.json()
    expect(isinstance(body, dict) and {"items", "partial", "missing"} <= set(body),
           f"{what}: the body should have 'items', 'partial' and 'missing'; got {str(body)[:160]}")
    return body


@exercise("09.recommendations", target="add_recommendations", points=4, timeout=60)
async def check_recommendations(add_recommendations: Callable[..., Any]) -> None:
    """Ranking, the concurrency limit, one fetch per book under 20 identical requests, the cache, a deadline
    with partial results, and the request id on every log line."""
    from bookshelf.models import Status

    logger = logging.getLogger("bookshelf.recommendations")
    lines = _Lines()
    old_level, old_propagate = logger.level, logger.propagate
    logger.addHandler(lines)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        await _scenario_crowd(add_recommendations, lines, Status)
        await _scenario_deadline(add_recommendations, lines, Status)
        await _scenario_shutdown(add_recommendations, Status)
    finally:
        logger.removeHandler(lines)
        logger.setLevel(old_level)
        logger.propagate = old_propagate
    await _check_over_http(add_recommendations)


async def _check_over_http(add_recommendations: Callable[..., Any]) -> None:
    """The same function in the app, served over real HTTP and judged by the capstone's acceptance suite."""
    from bookshelf import Settings, create_app

    from ..serving import serve
    from .capstone import RatingsService, acceptance, capture_log

    parts, whose = app_parts_quietly(9)
    limit, deadline, candidates = 3, 1.0, 8   # a deadline a busy machine still meets over real HTTP
    with RatingsService() as ratings, capture_log() as read_log:
        app = create_app(Settings.ephemeral(**ratings.settings()), stage=6, parts=parts)
        add_recommendations(app, limit=limit, deadline=deadline, candidates=candidates)
        server = serve(app, name="check-09.recommendations")
        try:
            report = await acceptance(server.url, ratings, read_log, limit=limit, deadline=deadline,
                                      candidates=candidates)
        finally:
            server.stop()
    expect(report.passed, f"served in the app and called over HTTP, your /recommendations scored "
                          f"{report.score}/{report.total} on the capstone's acceptance suite:\n"
                          + "\n".join(map(str, report.failed())) + f"\n(the app's other parts: {whose})")


def _client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://lesson09.test", timeout=30)


async def _scenario_crowd(add_recommendations: Callable[..., Any], lines: _Lines, Status: Any) -> None:
    limit, candidates, crowd = 3, 8, 20
    app, lifespan = await _started(add_recommendations, limit=limit, deadline=5.0, candidates=candidates)
    async with lifespan:
        for book_id in SHELF:
            await app.state.shelf.add(book_id, Status.read, "")
        fake = app.state.upstreams = FakeRatings(app.state.upstreams, delay=0.02)
        want = expected_items(app.state.books, SHELF, candidates,
                              {b.id: FakeRatings.average(b.id) for b in app.state.books})
        ids = [f"crowd-{i:02d}" for i in range(crowd)]
        async with _client(app) as client:
            responses = await asyncio.gather(*(client.get("/recommendations", headers={"X-Request-ID": rid})
                                               for rid in ids))
            bodies = [_items(r, f"one of {crowd} concurrent requests") for r in responses]
            first = bodies[0]
            got_ids = [item.get("book_id") for item in first["items"]]
            want_ids = [item["book_id"] for item in want]
            expect(sorted(got_ids) == sorted(want_ids),
                   f"the candidates are books {sorted(got_ids)}; expected {sorted(want_ids)}: the {candidates} "
                   f"books not on the shelf that share the most subjects with it (ties: lower id first)")
            expect(got_ids == want_ids,
                   f"the order is {got_ids}; expected {want_ids}: highest rating first, then more shared "
                   f"subjects, then lower id")
            for got, exp in zip(first["items"], want):
                expect(got.get("rating") == exp["rating"] and got.get("shared_subjects") == exp["shared_subjects"],
                       f"book {exp['book_id']}: got rating {got.get('rating')} and shared_subjects "
                       f"{got.get('shared_subjects')}, expected {exp['rating']} and {exp['shared_subjects']}")
            expect(first["partial"] is False and first["missing"] == [],
                   f"every rating came in time, yet partial={first['partial']} missing={first['missing']}")
            differ = sum(body != first for body in bodies)
            expect(not differ, f"{differ} of the {crowd} identical requests got a different answer")
            expect(fake.max_in_flight <= limit,
                   f"{fake.max_in_flight} rating calls were in flight at once; the limit was {limit}: one "
                   f"asyncio.Semaphore(limit) shared by all requests, held around each call")
            expect(fake.max_in_flight == limit,
                   f"at most {fake.max_in_flight} rating call(s) ran at once with a limit of {limit}: fetch the "
                   f"ratings concurrently (tasks or gather), not one after another")
            repeated = {book: n for book, n in fake.calls.items() if n > 1}
            expect(not repeated,
                   f"{crowd} concurrent identical requests fetched some ratings more than once (book: calls) "
                   f"{repeated}: keep one in-flight task per book id and let later requests await that task")
            expect(set(fake.calls) == set(want_ids),
                   f"ratings were fetched for books {sorted(fake.calls)}; expected the candidates {sorted(want_ids)}")
            before = sum(fake.calls.values())
            again = _items(await client.get("/recommendations", headers={"X-Request-ID": "crowd-again"}),
                           "a request after the crowd")
            expect(sum(fake.calls.values()) == before,
                   f"a repeated request made {sum(fake.calls.values()) - before} new rating call(s): cache the "
                   f"ratings you fetched")
            expect(again == first, "a repeated request got a different answer from the cached ratings")
    _expect_ids(lines, set(ids) | {"crowd-again"})


async def _scenario_deadline(add_recommendations: Callable[..., Any], lines: _Lines, Status: Any) -> None:
    limit, candidates, deadline = 4, 8, 0.5
    app, lifespan = await _started(add_recommendations, limit=limit, deadline=deadline, candidates=candidates)
    lines.ids.clear()
    lines.messages.clear()
    async with lifespan:
        for book_id in SHELF:
            await app.state.shelf.add(book_id, Status.read, "")
        real = app.state.upstreams
        want_all = expected_items(app.state.books, SHELF, candidates,
                                  {b.id: FakeRatings.average(b.id) for b in app.state.books})
        hang = {want_all[0]["book_id"], want_all[-1]["book_id"]}   # the best and the worst rated
        fake = app.state.upstreams = FakeRatings(real, hang=hang)
        ratings = {b.id: (None if b.id in hang else FakeRatings.average(b.id)) for b in app.state.books}
        want = expected_items(app.state.books, SHELF, candidates, ratings)
        try:
            async with _client(app) as client:
                started = time.perf_counter()
                try:
                    response = await asyncio.wait_for(
                        client.get("/recommendations", headers={"X-Request-ID": "deadline-1"}), deadline + 10)
                except asyncio.TimeoutError:
                    raise CheckFailed(f"with the ratings of books {sorted(hang)} hanging, GET /recommendations "
                                      f"had not answered {deadline + 10:g} s later (deadline {deadline} s): stop "
                                      f"waiting at the deadline (asyncio.wait(..., timeout=...))") from None
                took = time.perf_counter() - started
                body = _items(response, "with two ratings hanging")
                expect(took < deadline + 2.0,
                       f"with two ratings hanging the answer took {took:.2f} s; the deadline was {deadline} s")
                expect(body["partial"] is True and body["missing"] == sorted(hang),
                       f"with the ratings of books {sorted(hang)} hanging, expected partial=true and missing="
                       f"{sorted(hang)}; got partial={body['partial']} missing={body['missing']}")
                got_ids = [item.get("book_id") for item in body["items"]]
                want_ids = [item["book_id"] for item in want]
                expect(got_ids == want_ids,
                       f"with partial results the order is {got_ids}; expected {want_ids}: the books without a "
                       f"rating (rating null) come after the rated ones")
                for item in body["items"]:
                    if item.get("book_id") in hang:
                        expect(item.get("rating") is None,
                               f"book {item['book_id']}'s rating never came, yet it shows {item.get('rating')}")
                expect(fake.max_in_flight <= limit, f"{fake.max_in_flight} rating calls ran at once; limit {limit}")
                fake.release.set()                      # the upstream recovers
                for _ in range(200):                    # let the fetches still running finish
                    if fake.in_flight == 0:
                        break
                    await asyncio.sleep(0.01)
                await asyncio.sleep(0.01)
                later = _items(await client.get("/recommendations", headers={"X-Request-ID": "deadline-2"}),
                               "after the ratings service recovered")
                expect(later["partial"] is False and later["missing"] == [],
                       f"after the ratings service recovered, a new request still got partial="
                       f"{later['partial']} missing={later['missing']}: do not cache a missing rating")
                expect([i.get("book_id") for i in later["items"]] == [i["book_id"] for i in want_all],
                       "after the ratings service recovered, the ranking should be the full one")
        finally:
            fake.release.set()
    _expect_ids(lines, {"deadline-1", "deadline-2"})


async def _scenario_shutdown(add_recommendations: Callable[..., Any], Status: Any) -> None:
    """The app shuts down while fetches are still running (their ratings hang): they must be cancelled and
    awaited at shutdown, not left running after the app closed its client."""
    limit, candidates, deadline = 4, 8, 0.2
    app, lifespan = await _started(add_recommendations, limit=limit, deadline=deadline, candidates=candidates)
    before = asyncio.all_tasks()
    fake: FakeRatings | None = None
    async with lifespan:
        for book_id in SHELF:
            await app.state.shelf.add(book_id, Status.read, "")
        want = expected_items(app.state.books, SHELF, candidates,
                              {b.id: FakeRatings.average(b.id) for b in app.state.books})
        fake = app.state.upstreams = FakeRatings(app.state.upstreams, hang={item["book_id"] for item in want})
        async with _client(app) as client:
            try:
                response = await asyncio.wait_for(
                    client.get("/recommendations", headers={"X-Request-ID": "shutdown-1"}), deadline + 10)
            except asyncio.TimeoutError:
                raise CheckFailed("with every rating hanging, GET /recommendations had not answered 10 s after its "
                                  "deadline") from None
        _items(response, "with every rating hanging")
        started = fake.in_flight
    for _ in range(3):
        await asyncio.sleep(0)
    left = [t for t in asyncio.all_tasks() - before if not t.done()]
    for task in left:                                   # leave nothing behind on the check's loop
        task.cancel()
    await asyncio.gather(*left, return_exceptions=True)
    expect(not left, f"{len(left)} task(s) the endpoint started were still running after the app shut down "
                     f"({started} rating call(s) were waiting on the upstream at shutdown): cancel the fetches "
                     f"still in flight at shutdown and wait for them, before the app closes its HTTP client "
                     f"(`app.include_router(APIRouter(lifespan=...))` runs a lifespan inside the app's)")
    expect(fake.in_flight == 0, f"{fake.in_flight} rating call(s) were still waiting after shutdown")


def _expect_ids(lines: _Lines, sent: set[str]) -> None:
    expect(lines.ids, "nothing was logged on the logger 'bookshelf.recommendations': log a line or two per "
                      "request there (e.g. how many candidates, which ratings were missing)")
    strangers = [(rid, msg) for rid, msg in zip(lines.ids, lines.messages) if rid not in sent]
    if strangers:
        rid, msg = strangers[0]
        raise CheckFailed(f"{len(strangers)} log line(s) did not carry the id of a request, e.g. {msg[:60]!r} with "
                          f"id {rid!r}: call bookshelf.observability.instrument(app) in add_recommendations, and "
                          f"log from the endpoint")
    silent = sorted(sent - set(lines.ids))
    expect(not silent, f"requests {silent[:3]} logged no line with their id on 'bookshelf.recommendations'")
