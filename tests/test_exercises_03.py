"""Lesson 03's checks pass the package's answers and reject the typical wrong ones with a useful message."""

from __future__ import annotations

import asyncio
from typing import Any

from bookshelf import fanout
from bookshelf.fanout import PLACEHOLDER_COVER, UpstreamError
from bookshelf.models import BookDetails
from labkit.checks import run_check


def test_the_package_functions_pass():
    for exercise_id, name in (("03.fetch_details", "fetch_details"), ("03.with_retries", "with_retries"),
                              ("03.bounded_gather", "bounded_gather")):
        result = run_check(exercise_id, {name: getattr(fanout, name)})
        assert result.passed, result


# -- 03.fetch_details -------------------------------------------------------------------------

def test_fetch_details_rejects_one_after_another():
    result = run_check("03.fetch_details", {"fetch_details": fanout.fetch_details_sequential})
    assert result.status == "failed" and "in flight" in result.message


async def without_return_exceptions(upstreams: Any, book: Any) -> BookDetails:
    rating, price, cover = await asyncio.gather(upstreams.rating(book.id), upstreams.price(book.id),
                                                upstreams.cover(book.id))
    return BookDetails(book=book, rating=rating, price=price, cover_url=cover)


def test_fetch_details_rejects_gather_without_return_exceptions():
    result = run_check("03.fetch_details", {"fetch_details": without_return_exceptions})
    assert not result.passed and "UpstreamUnavailable" in result.message


async def all_or_nothing(upstreams: Any, book: Any) -> BookDetails:
    """Degrades everything when one service fails: the fallbacks are all-or-nothing."""
    try:
        rating, price, cover = await asyncio.gather(upstreams.rating(book.id), upstreams.price(book.id),
                                                    upstreams.cover(book.id))
    except UpstreamError as exc:
        return BookDetails(book=book, rating=None, price=None, cover_url=PLACEHOLDER_COVER,
                           degraded={exc.upstream: exc.reason})
    return BookDetails(book=book, rating=rating, price=price, cover_url=cover)


def test_fetch_details_rejects_losing_the_other_answers():
    result = run_check("03.fetch_details", {"fetch_details": all_or_nothing})
    assert result.status == "failed" and "must not cost the others" in result.message


# -- 03.with_retries --------------------------------------------------------------------------

async def retries_everything(call, *, attempts=3, base_delay=0.05, retry_on=(), sleep=asyncio.sleep):
    for attempt in range(attempts):
        try:
            return await call()
        except Exception:
            if attempt == attempts - 1:
                raise
            await sleep(base_delay * 2**attempt)


async def constant_delay(call, *, attempts=3, base_delay=0.05, retry_on=(fanout.UpstreamUnavailable,),
                         sleep=asyncio.sleep):
    for attempt in range(attempts):
        try:
            return await call()
        except retry_on:
            if attempt == attempts - 1:
                raise
            await sleep(base_delay)


async def ignores_sleep(call, *, attempts=3, base_delay=0.05, retry_on=(fanout.UpstreamUnavailable,),
                        sleep=asyncio.sleep):
    for attempt in range(attempts):
        try:
            return await call()
        except retry_on:
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(base_delay * 2**attempt)


async def sleeps_after_the_last(call, *, attempts=3, base_delay=0.05, retry_on=(fanout.UpstreamUnavailable,),
                                sleep=asyncio.sleep):
    error = None
    for attempt in range(attempts):
        try:
            return await call()
        except retry_on as exc:
            error = exc
            await sleep(base_delay * 2**attempt)
    raise error


def test_with_retries_rejects_the_typical_mistakes():
    cases = {retries_everything: "not in retry_on", constant_delay: "exponential backoff",
             ignores_sleep: "the `sleep` argument", sleeps_after_the_last: "none after the last attempt"}
    for answer, words in cases.items():
        result = run_check("03.with_retries", {"with_retries": answer})
        assert result.status == "failed" and words in result.message, (answer.__name__, result)


# -- 03.bounded_gather ------------------------------------------------------------------------

async def unbounded(calls, *, limit):
    return await asyncio.gather(*(call() for call in calls), return_exceptions=True)


async def one_at_a_time(calls, *, limit):
    results = []
    for call in calls:
        try:
            results.append(await call())
        except Exception as exc:  # noqa: BLE001 - mimics return_exceptions=True
            results.append(exc)
    return results


async def in_batches(calls, *, limit):
    calls, results = list(calls), []
    for start in range(0, len(calls), limit):
        results += await asyncio.gather(*(call() for call in calls[start:start + limit]), return_exceptions=True)
    return results


def test_bounded_gather_needs_exactly_limit_in_flight_and_no_batches():
    result = run_check("03.bounded_gather", {"bounded_gather": unbounded})
    assert result.status == "failed" and "semaphore" in result.message.lower()
    result = run_check("03.bounded_gather", {"bounded_gather": one_at_a_time})
    assert result.status == "failed" and "at most 1" in result.message
    result = run_check("03.bounded_gather", {"bounded_gather": in_batches})
    assert result.status == "failed" and "batches" in result.message
