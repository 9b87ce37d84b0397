"""Lesson 06 endpoints: start a background "refresh ratings" job, then follow its progress."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path
from pydantic import BaseModel, ConfigDict, Field

from ..catalogue import Catalogue
from ..db import Shelf
from ..deps import get_catalogue, get_refresher, get_shelf
from ..errors import RETRY_AFTER, StrictJSONRoute
from ..jobs import QueueFull, RatingsRefresher
from ..models import MAX_ID, BookId

router = APIRouter(prefix="/jobs", tags=["lesson 06"], route_class=StrictJSONRoute)


class RefreshRequest(BaseModel):
    """Which books to refresh; without ``book_ids``, every book on the shelf."""

    model_config = ConfigDict(extra="forbid")

    book_ids: list[BookId] | None = Field(default=None, max_length=1000)


@router.post("/refresh-ratings", status_code=202,
             responses={404: {"description": "a book id is not in the catalogue"},
                        503: {"description": "the queue is full: retry after the Retry-After seconds"}})
async def refresh_ratings(refresher: Annotated[RatingsRefresher, Depends(get_refresher)],
                          shelf: Annotated[Shelf, Depends(get_shelf)],
                          catalogue: Annotated[Catalogue, Depends(get_catalogue)],
                          body: RefreshRequest | None = None) -> dict[str, object]:
    """Queue a rating refresh and answer at once with the job (follow it at ``/jobs/{id}``)."""
    ids = body.book_ids if body is not None and body.book_ids is not None else \
        [entry.book_id for entry in await shelf.entries()]
    ids = list(dict.fromkeys(ids))
    unknown = [book_id for book_id in ids if await catalogue.get(book_id) is None]
    if unknown:
        raise HTTPException(404, f"{len(unknown)} book id(s) not in the catalogue, e.g. {unknown[:5]}")
    try:
        return await refresher.enqueue(ids)
    except QueueFull:
        raise HTTPException(503, "too many ratings are waiting to be refreshed: try again later",
                            headers={"Retry-After": RETRY_AFTER}) from None


@router.get("/{job_id:int}", responses={404: {"description": "no such job"}})
async def read_job(job_id: Annotated[int, Path(ge=1, le=MAX_ID)],
                   refresher: Annotated[RatingsRefresher, Depends(get_refresher)]) -> dict[str, object]:
    """A job's progress."""
    job = await refresher.job(job_id)
    if job is None:
        raise HTTPException(404, f"job {job_id} not found")
    return job
