"""Lesson 06 endpoints: start a background "refresh ratings" job, then follow its progress."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path
from pydantic import BaseModel, ConfigDict, Field

from ..db import Shelf
from ..deps import get_refresher, get_shelf
from ..errors import StrictJSONRoute
from ..jobs import RatingsRefresher
from ..models import MAX_ID, BookId

router = APIRouter(prefix="/jobs", tags=["lesson 06"], route_class=StrictJSONRoute)


class RefreshRequest(BaseModel):
    """Which books to refresh; without ``book_ids``, every book on the shelf."""

    model_config = ConfigDict(extra="forbid")

    book_ids: list[BookId] | None = Field(default=None, max_length=1000)


@router.post("/refresh-ratings", status_code=202)
async def refresh_ratings(refresher: Annotated[RatingsRefresher, Depends(get_refresher)],
                          shelf: Annotated[Shelf, Depends(get_shelf)],
                          body: RefreshRequest | None = None) -> dict[str, object]:
    """Queue a rating refresh and answer at once with the job (follow it at ``/jobs/{id}``)."""
    ids = body.book_ids if body is not None and body.book_ids is not None else \
        [entry.book_id for entry in await shelf.entries()]
    return refresher.submit(list(dict.fromkeys(ids))).as_dict()


@router.get("/{job_id:int}", responses={404: {"description": "no such job"}})
async def read_job(job_id: Annotated[int, Path(ge=1, le=MAX_ID)],
                   refresher: Annotated[RatingsRefresher, Depends(get_refresher)]) -> dict[str, object]:
    """A job's progress."""
    job = refresher.jobs.get(job_id)
    if job is None:
        raise HTTPException(404, f"job {job_id} not found")
    return job.as_dict()
