"""Lesson 09's checks pass correct answers and explain the typical mistakes of each exercise."""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Any

from fastapi import FastAPI, Request

from bookshelf.models import Rating
from bookshelf.observability import instrument
from bookshelf.recommendations import CANDIDATES_SQL, Recommendation, Recommendations, add_recommendations, rank_key
from labkit.checks import run_check

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
            instrumented: bool = True, concurrent: bool = True):
    """The capstone with one ingredient left out (each keyword False removes one)."""

    def add(app: FastAPI, *, limit: int = 4, deadline: float = 0.5, candidates: int = 10) -> FastAPI:
        if instrumented:
            instrument(app)
        shared = asyncio.Semaphore(limit)
        cache: dict[int, Rating] = {}
        in_flight: dict[int, asyncio.Task[Rating]] = {}

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
                    if not t.cancelled() and t.exception() is None:
                        cache[book_id] = t.result()

                task.add_done_callback(done)
                return task

            async with request.app.state.db.conn.execute(CANDIDATES_SQL, (candidates,)) as cursor:
                rows = [dict(r) for r in await cursor.fetchall()]
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
                    if t.done() and not t.cancelled() and t.exception() is None:
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
    }
    for needle, answer in cases.items():
        result = run_check("09.recommendations", {"add_recommendations": answer})
        assert result.status == "failed", (needle, result)
        assert needle in result.message, (needle, result.message)
