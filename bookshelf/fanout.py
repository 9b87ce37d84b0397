"""Calling the upstream services: one call with a deadline, and the fan-out behind ``/books/{id}/details``.

Lesson 03 builds this module: ``fetch_details_sequential`` awaits one service after another,
``fetch_details`` asks all three at once with ``asyncio.gather`` and degrades gracefully when one fails.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from pydantic import ValidationError

from .models import Book, BookDetails, Price, Rating
from .upstreams import UPSTREAM_PATHS

__all__ = ["UpstreamError", "UpstreamTimeout", "UpstreamUnavailable", "Upstreams", "fetch_json",
           "fetch_details", "fetch_details_sequential", "with_retries", "bounded_gather", "PLACEHOLDER_COVER"]

T = TypeVar("T")
PLACEHOLDER_COVER = "https://covers.example.org/placeholder.jpg"
MAX_ANSWER_BYTES = 1_000_000  # an upstream's answer is a small JSON object: more than this is not one


class UpstreamError(Exception):
    """An upstream service did not give a usable answer."""

    def __init__(self, upstream: str, reason: str) -> None:
        super().__init__(f"{upstream}: {reason}")
        self.upstream = upstream
        self.reason = reason


class UpstreamTimeout(UpstreamError):
    """The service did not answer in time (the API answers 504 when there is no fallback)."""


class UpstreamUnavailable(UpstreamError):
    """The service could not be reached or answered with an error (503 when there is no fallback)."""


async def fetch_json(client: httpx.AsyncClient, url: str, *, upstream: str, timeout: float) -> dict[str, Any]:
    """GET ``url`` and return its JSON object, or raise an :class:`UpstreamError` saying what went wrong.

    The client's own timeouts bound each step (waiting for a pooled connection, connecting, sending,
    each read) to ``timeout`` seconds, and the body is read only until ``timeout`` seconds have passed
    in all. Nothing cancels the request from outside: an ``asyncio.timeout`` around ``client.get``
    can leave the pool's connections "active" forever (encode/httpcore#1093), until no call gets one.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        async with client.stream("GET", url, timeout=httpx.Timeout(timeout)) as response:
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if loop.time() > deadline:  # a trickling answer: leaving the block closes the connection
                    raise UpstreamTimeout(upstream, f"no answer within {timeout:g} s")
                if len(body) > MAX_ANSWER_BYTES:
                    raise UpstreamUnavailable(upstream, "answered more than we read")
    except httpx.TimeoutException as exc:
        raise UpstreamTimeout(upstream, f"no answer within {timeout:g} s") from exc
    except httpx.HTTPError as exc:
        raise UpstreamUnavailable(upstream, f"unreachable ({type(exc).__name__})") from exc
    if response.status_code != 200:
        raise UpstreamUnavailable(upstream, f"answered HTTP {response.status_code}")
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise UpstreamUnavailable(upstream, "answered something that is not JSON") from exc
    if not isinstance(data, dict):
        raise UpstreamUnavailable(upstream, "answered JSON that is not an object")
    return data


@dataclass(frozen=True)
class Upstreams:
    """The app's one HTTP client, the services' base URLs, and the time allowed for each call."""

    client: httpx.AsyncClient
    urls: dict[str, str]
    timeout: float = 1.0

    async def _get(self, name: str, book_id: int) -> dict[str, Any]:
        url = self.urls[name] + UPSTREAM_PATHS[name].format(book_id=book_id)
        return await fetch_json(self.client, url, upstream=name, timeout=self.timeout)

    async def rating(self, book_id: int) -> Rating:
        """The ratings service's answer for a book."""
        try:
            return Rating.model_validate(await self._get("ratings", book_id))
        except ValidationError as exc:
            raise UpstreamUnavailable("ratings", "answered with an unexpected shape") from exc

    async def price(self, book_id: int) -> Price:
        """The prices service's answer for a book."""
        try:
            return Price.model_validate(await self._get("prices", book_id))
        except ValidationError as exc:
            raise UpstreamUnavailable("prices", "answered with an unexpected shape") from exc

    async def cover(self, book_id: int) -> str:
        """The cover image URL the covers service knows for a book."""
        url = (await self._get("covers", book_id)).get("url")
        if not isinstance(url, str):
            raise UpstreamUnavailable("covers", "answered without a cover URL")
        return url


async def fetch_details_sequential(upstreams: Upstreams, book: Book) -> BookDetails:
    """Ask the three services one after another: the time is the *sum* of their latencies."""
    degraded: dict[str, str] = {}
    rating: Rating | None = None
    price: Price | None = None
    cover_url = PLACEHOLDER_COVER
    try:
        rating = await upstreams.rating(book.id)
    except UpstreamError as exc:
        degraded["ratings"] = exc.reason
    try:
        price = await upstreams.price(book.id)
    except UpstreamError as exc:
        degraded["prices"] = exc.reason
    try:
        cover_url = await upstreams.cover(book.id)
    except UpstreamError as exc:
        degraded["covers"] = exc.reason
    return BookDetails(book=book, rating=rating, price=price, cover_url=cover_url, degraded=degraded)


async def fetch_details(upstreams: Upstreams, book: Book) -> BookDetails:
    """Ask the three services at once: the time is close to the *slowest* one.

    A service that fails or is too slow leaves its fallback in place (no rating, no price, a
    placeholder cover) and is named in ``degraded`` with the reason; any other exception is a bug
    and propagates.
    """
    ### BEGIN SOLUTION
    results = await asyncio.gather(
        upstreams.rating(book.id), upstreams.price(book.id), upstreams.cover(book.id),
        return_exceptions=True,
    )
    answers: dict[str, Any] = {}
    degraded: dict[str, str] = {}
    for name, result in zip(("ratings", "prices", "covers"), results):
        if isinstance(result, UpstreamError):
            degraded[name] = result.reason  # its fallback stays in place
        elif isinstance(result, BaseException):
            raise result  # not an upstream's failure: a bug, let it surface
        else:
            answers[name] = result
    return BookDetails(book=book, rating=answers.get("ratings"), price=answers.get("prices"),
                       cover_url=answers.get("covers", PLACEHOLDER_COVER), degraded=degraded)
    ### END SOLUTION


async def with_retries(call: Callable[[], Awaitable[T]], *, attempts: int = 3, base_delay: float = 0.05,
                       retry_on: tuple[type[BaseException], ...] = (UpstreamUnavailable, UpstreamTimeout),
                       sleep: Callable[[float], Awaitable[object]] = asyncio.sleep) -> T:
    """Await ``call()``; on a ``retry_on`` error wait ``base_delay * 2**n`` seconds and try again.

    By default the transient errors are retried: a service that answered 5xx or dropped the connection
    (``UpstreamUnavailable``) and one that was too slow (``UpstreamTimeout``). After ``attempts`` failed
    tries the last error is raised again; any other exception propagates at once (it would not go away
    by retrying). ``sleep`` does the waiting: a test can pass its own.
    """
    ### BEGIN SOLUTION
    for attempt in range(attempts):
        try:
            return await call()
        except retry_on:
            if attempt == attempts - 1:
                raise
            await sleep(base_delay * 2**attempt)
    raise ValueError("attempts must be at least 1")
    ### END SOLUTION


async def bounded_gather(calls: Iterable[Callable[[], Awaitable[T]]], *, limit: int) -> list[T | BaseException]:
    """Like ``gather(..., return_exceptions=True)`` over ``call()`` for each call, at most ``limit`` at a time.

    ``calls`` are zero-argument functions that start the work (``functools.partial(fetch, 3)``, an
    ``async def`` without arguments): a call is made only once it holds a slot, so nothing starts early.
    """
    ### BEGIN SOLUTION
    semaphore = asyncio.Semaphore(limit)

    async def one(call: Callable[[], Awaitable[T]]) -> T:
        async with semaphore:
            return await call()

    return await asyncio.gather(*(one(call) for call in calls), return_exceptions=True)
    ### END SOLUTION
