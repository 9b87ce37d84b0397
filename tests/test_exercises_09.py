"""Lesson 09's checks pass correct answers and explain the typical mistakes of each exercise."""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import nbformat
import pytest
from fastapi import APIRouter, FastAPI, Request

from apps import ROOT
from authoring.editions import strip_solutions
from bookshelf import Settings, create_app
from bookshelf.models import Rating
from bookshelf.observability import instrument
from bookshelf.recommendations import CANDIDATES_SQL, Recommendation, Recommendations, add_recommendations, rank_key
from labkit import outside
from labkit.checks import run_check
from labkit.exercises.capstone import CRITERIA, RatingsService, Report, acceptance, capture_log
from labkit.myshelf import PARTS
from labkit.serving import serve
from labkit.standins import add_recommendations as standin_recommendations

log = logging.getLogger("bookshelf.recommendations")


def percentiles(latencies: list[float], qs: tuple[float, ...] = (50, 95, 99)) -> dict[str, float]:
    if not latencies:
        raise ValueError("no latencies")
    ordered = sorted(latencies)
    return {f"p{q:g}": ordered[max(1, math.ceil(q / 100 * len(ordered))) - 1] for q in qs}


def summarize_runs(results: list[Any], p99_target: float) -> dict[str, Any]:
    def goodput(r: Any) -> float:
        return (r.requests - r.errors) / r.duration

    meets = [r for r in results if r.errors == 0 and r.p99 <= p99_target]
    return {"best_throughput": max(results, key=goodput).label, "meets_target": [r.label for r in meets],
            "recommended": max(meets, key=goodput).label if meets else None}


def test_correct_answers_pass():
    for exercise_id, name, answer in (("09.percentiles", "percentiles", percentiles),
                                      ("09.summarize_runs", "summarize_runs", summarize_runs),
                                      ("09.recommendations", "add_recommendations", add_recommendations)):
        result = run_check(exercise_id, {name: answer})
        assert result.passed, result


def test_percentile_mistakes_are_explained():
    def interpolating(latencies: list[float], qs: tuple[float, ...] = (50, 95, 99)) -> dict[str, float]:
        ordered = sorted(latencies)
        out = {}
        for q in qs:
            pos = q / 100 * (len(ordered) - 1)
            lo, hi = math.floor(pos), math.ceil(pos)
            out[f"p{q:g}"] = ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)
        return out

    def sorts_in_place(latencies: list[float], qs: tuple[float, ...] = (50, 95, 99)) -> dict[str, float]:
        latencies.sort()
        return percentiles(latencies, qs)

    result = run_check("09.percentiles", {"percentiles": interpolating})
    assert result.status == "failed" and "p50=50" in result.message
    result = run_check("09.percentiles", {"percentiles": sorts_in_place})
    assert result.status == "failed" and "changed the list" in result.message


def test_summary_counting_failed_requests_is_explained():
    def raw_rps(results: list[Any], p99_target: float) -> dict[str, Any]:
        meets = [r for r in results if r.p99 <= p99_target]
        return {"best_throughput": max(results, key=lambda r: r.requests_per_second).label,
                "meets_target": [r.label for r in meets], "recommended": None}

    result = run_check("09.summarize_runs", {"summarize_runs": raw_rps})
    assert result.status == "failed" and "failed fast" in result.message


def variant(*, single_flight: bool = True, shared_limit: bool = True, keep_partial: bool = True,
            instrumented: bool = True, concurrent: bool = True, forget_finished: bool = True,
            cached: bool = True, handle_errors: bool = True, logs: bool = True, cancel_at_shutdown: bool = True):
    """The capstone with one ingredient left out (each keyword False removes one)."""

    def add(app: FastAPI, *, limit: int = 4, deadline: float = 0.5, candidates: int = 10) -> FastAPI:
        if instrumented:
            instrument(app)
        shared = asyncio.Semaphore(limit)
        cache: dict[int, Rating] = {}
        in_flight: dict[int, asyncio.Task[Rating]] = {}

        @asynccontextmanager
        async def stop_fetches(app: FastAPI) -> AsyncIterator[None]:
            try:
                yield
            finally:
                running = [t for t in in_flight.values() if not t.done()]
                for t in running:
                    t.cancel()
                await asyncio.gather(*running, return_exceptions=True)

        if cancel_at_shutdown:
            app.include_router(APIRouter(lifespan=stop_fetches))

        @app.get("/recommendations")
        async def recommendations(request: Request) -> Recommendations:
            semaphore = shared if shared_limit else asyncio.Semaphore(limit * 10)
            upstreams = request.app.state.upstreams

            async def fetch(book_id: int) -> Rating:
                async with semaphore:
                    return await upstreams.rating(book_id)

            def task_for(book_id: int) -> asyncio.Task[Rating]:
                if single_flight and book_id in in_flight:
                    return in_flight[book_id]
                task = asyncio.ensure_future(fetch(book_id))
                in_flight[book_id] = task

                def done(t: asyncio.Task[Rating]) -> None:
                    if forget_finished:
                        in_flight.pop(book_id, None)
                    if cached and not t.cancelled() and t.exception() is None:
                        cache[book_id] = t.result()

                task.add_done_callback(done)
                return task

            async with request.app.state.db.conn.execute(CANDIDATES_SQL, (candidates,)) as cursor:
                rows = [dict(r) for r in await cursor.fetchall()]
            if logs:
                log.info("%d candidates", len(rows))
            ratings: dict[int, float] = {}
            todo = [r["id"] for r in rows if r["id"] not in cache]
            for book_id in [r["id"] for r in rows if r["id"] in cache]:
                ratings[book_id] = cache[book_id].average
            if not concurrent:
                for book_id in todo:
                    ratings[book_id] = (await task_for(book_id)).average
            elif keep_partial:
                tasks = {i: task_for(i) for i in todo}
                if tasks:
                    await asyncio.wait(tasks.values(), timeout=deadline)
                for i, t in tasks.items():
                    if t.done() and not t.cancelled() and (not handle_errors or t.exception() is None):
                        ratings[i] = t.result().average
            else:
                tasks = {i: task_for(i) for i in todo}
                try:
                    got = await asyncio.wait_for(asyncio.gather(*tasks.values()), deadline)
                    ratings.update({i: r.average for i, r in zip(tasks, got)})
                except asyncio.TimeoutError:
                    pass
            items = sorted((Recommendation(book_id=r["id"], title=r["title"], author=r["author"],
                                           shared_subjects=r["shared"], rating=ratings.get(r["id"])) for r in rows),
                           key=rank_key)
            missing = sorted(r["id"] for r in rows if r["id"] not in ratings)
            return Recommendations(items=items, partial=bool(missing), missing=missing)

        return app

    return add


def test_the_full_variant_passes():
    assert run_check("09.recommendations", {"add_recommendations": variant()}).passed


def test_capstone_mistakes_are_explained():
    cases = {
        "more than once": variant(single_flight=False),
        "one after another": variant(concurrent=False),
        "the limit was 3": variant(shared_limit=False),
        "partial=true and missing=": variant(keep_partial=False),
        "instrument(app)": variant(instrumented=False),
        "still running after the app shut down": variant(cancel_at_shutdown=False),
    }
    for needle, answer in cases.items():
        result = run_check("09.recommendations", {"add_recommendations": answer})
        assert result.status == "failed", (needle, result)
        assert needle in result.message, (needle, result.message)


def test_a_capstone_that_keeps_failed_fetches_fails_over_http():
    result = run_check("09.recommendations", {"add_recommendations": variant(forget_finished=False)})
    assert result.status == "failed"
    assert "acceptance suite" in result.message and "upstream errors" in result.message, result.message


# -- the acceptance suite over real HTTP -------------------------------------------------------------

@contextmanager
def served(add: Any | None, **options: Any) -> Iterator[tuple[str, RatingsService, Any]]:
    """A stage-6 app with ``add(app, **options)`` applied (nothing when None), served; its ratings and log."""
    with RatingsService() as ratings, capture_log() as read_log:
        app = create_app(Settings.ephemeral(**ratings.settings()), stage=6)
        if add is not None:
            add(app, **options)
        server = serve(app, name="test-acceptance")
        try:
            yield server.url, ratings, read_log
        finally:
            server.stop()


def judge(add: Any | None, **options: Any) -> Report:
    """The acceptance suite's verdict; the deadline is 1 s unless given (0.5 s is tight on a crowded machine)."""
    options.setdefault("deadline", 1.0)
    with served(add, **options) as (url, ratings, read_log):
        return asyncio.run(acceptance(url, ratings, read_log, **options))


def test_the_suite_passes_the_reference_app():
    report = judge(add_recommendations)
    assert report.passed and report.score == report.total == 12, str(report)


def test_the_suite_passes_other_settings_of_the_reference():
    report = judge(add_recommendations, limit=2, deadline=0.8, candidates=6)
    assert report.passed, str(report)


def test_the_stubbed_capstone_scores_nothing():
    source = Path(inspect.getsourcefile(add_recommendations)).read_text(encoding="utf-8")
    stubbed = strip_solutions(source)
    assert "raise NotImplementedError()" in stubbed and "semaphore" not in stubbed.split("def add_recommendations")[1]
    namespace: dict[str, Any] = {"__name__": "bookshelf.stubbed_recommendations", "__package__": "bookshelf"}
    exec(compile(stubbed, "stubbed_recommendations.py", "exec"), namespace)
    app_without = create_app(Settings.ephemeral(), stage=6)
    with pytest.raises(NotImplementedError):
        namespace["add_recommendations"](app_without)
    report = judge(None)
    assert report.score == 0 and len(report.failed()) == len(CRITERIA), str(report)
    assert "404" in report.failed()[0].detail


def test_the_stand_in_fails_what_it_leaves_out():
    report = judge(standin_recommendations)
    assert {c.name for c in report.failed()} == {"single flight", "limit", "cache", "deadline", "request ids"}, \
        str(report)


@pytest.mark.parametrize(("mistake", "failed"), [
    ({"single_flight": False}, "single flight"),
    ({"shared_limit": False}, "limit"),
    ({"concurrent": False}, "limit"),
    ({"cached": False}, "cache"),
    ({"keep_partial": False}, "deadline"),
    ({"forget_finished": False}, "upstream errors"),
    ({"handle_errors": False}, "upstream errors"),
    ({"instrumented": False}, "request ids"),
    ({"logs": False}, "request ids"),
], ids=lambda x: str(x))
def test_each_typical_mistake_fails_its_criterion(mistake, failed):
    report = judge(variant(**mistake))
    assert failed in {c.name for c in report.failed()}, str(report)
    assert not report.passed


def test_the_full_variant_passes_the_suite():
    assert judge(variant()).passed


def lesson_cell(marker: str) -> str:
    """The source of the solution cell of lesson 09 that starts with ``marker``."""
    nb = nbformat.read(ROOT / "solutions" / "09_performance_capstone.ipynb", as_version=4)
    return next(c.source for c in nb.cells if c.cell_type == "code" and c.source.startswith(marker))


def test_the_lessons_main_imports_every_part_of_the_app():
    main = lesson_cell("%%myshelf main")
    for p in PARTS:
        defined = p.function or p.name
        assert f"from .{p.module} import {defined}" in main, f"lesson 09's main cell misses {p.name} ({p.lesson})"
        assert f'"{p.name}": {defined}' in main


@pytest.mark.timeout(120)
def test_the_lessons_main_under_uvicorn_passes_the_suite(tmp_path):
    """Lesson 09's `%%myshelf main` cell, run by the real uvicorn command, with the reference parts."""
    package = tmp_path / "myshelf"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for p in PARTS:   # each module of the package holds the reference part, under the name the lesson uses
        (package / f"{p.module}.py").write_text(
            f"from bookshelf.app import default_parts\n\n{p.function or p.name} = default_parts()[{p.name!r}]\n")
    (package / "recommendations.py").write_text(   # the reference, with a deadline a crowded machine meets
        "from bookshelf.recommendations import add_recommendations as reference\n\n\n"
        "def add_recommendations(app, **options):\n"
        "    return reference(app, **{'deadline': 1.0, **options})\n")
    (package / "main.py").write_text(lesson_cell("%%myshelf main").split("\n", 1)[1])
    with RatingsService() as ratings:
        server = outside.uvicorn("myshelf.main:app", name="test-09-main", cwd=tmp_path,
                                 env=ratings.env(database=str(tmp_path / "shelf.db")))
        try:
            report = asyncio.run(acceptance(server.url, ratings, lambda: server.log(10**9), deadline=1.0))
        finally:
            server.stop()
    assert report.passed, str(report)
