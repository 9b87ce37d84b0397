"""Enrichment endpoints (lesson 03): ``/books/{book_id}/details`` fans out; ``/price`` has no fallback."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from ..deps import get_book, get_upstreams
from ..fanout import UpstreamUnavailable, Upstreams
from ..models import Book, BookDetails, Price

router = APIRouter(tags=["details"])
PRICE_ATTEMPTS = 3  # tries of a price lookup that the service answers with an error


@router.get("/books/{book_id}/details", responses={404: {"description": "no such book"}})
async def book_details(request: Request, book: Annotated[Book, Depends(get_book)],
                       upstreams: Annotated[Upstreams, Depends(get_upstreams)]) -> BookDetails:
    """The book with its rating, price and cover, fetched from the three services concurrently.

    A service that fails leaves a fallback and is named in ``degraded``. When the ratings service
    fails and the background refresher (lesson 06) has a cached rating, that rating is served.
    """
    details: BookDetails = await request.app.state.fetch_details(upstreams, book)
    cache = getattr(request.app.state, "rating_cache", None)
    if details.rating is None and cache and book.id in cache:
        details.rating = cache[book.id]
        details.degraded["ratings"] += " (served a cached rating)"
    return details


@router.get("/books/{book_id}/price",
            responses={404: {"description": "no such book"}, 503: {"description": "prices service down"},
                       504: {"description": "prices service too slow"}})
async def book_price(request: Request, book: Annotated[Book, Depends(get_book)],
                     upstreams: Annotated[Upstreams, Depends(get_upstreams)]) -> Price:
    """Just the price: no fallback makes sense here, so a failing service means 503 and a slow one 504.

    A 503 from the service may be transient, so the lookup is tried up to ``PRICE_ATTEMPTS`` times with
    exponential backoff (lesson 03) before the endpoint gives up. A timeout is transient too, but each one
    has already spent a whole deadline: retrying it would multiply this endpoint's worst-case latency, so
    here only ``UpstreamUnavailable`` is retried and a slow service means one deadline, then 504.
    """
    with_retries = request.app.state.parts["with_retries"]
    return await with_retries(lambda: upstreams.price(book.id), attempts=PRICE_ATTEMPTS, base_delay=0.05,
                              retry_on=(UpstreamUnavailable,))
