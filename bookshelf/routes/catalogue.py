"""Catalogue endpoints: ``GET /books`` (filters and pagination), ``GET /books/{book_id}``, and (from lesson 04,
with the database) ``GET /titles``, a title search for a search box's suggestions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from ..catalogue import BookFilter, Catalogue
from ..deps import get_book, get_catalogue
from ..models import MAX_ID, Book, BookPage, TitleMatch

router = APIRouter(tags=["catalogue"])
titles_router = APIRouter(tags=["catalogue"])
Text = Annotated[str | None, Query(min_length=1, max_length=100)]


@router.get("/books")
async def list_books(
    catalogue: Annotated[Catalogue, Depends(get_catalogue)],
    q: Text = None,
    author: Text = None,
    language: Annotated[str | None, Query(pattern=r"^[a-z]{2}$", description="ISO 639-1 code")] = None,
    subject: Text = None,
    year_from: Annotated[int | None, Query(ge=-3000, le=3000)] = None,
    year_to: Annotated[int | None, Query(ge=-3000, le=3000)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> BookPage:
    """Books matching every filter given, in id order, ``limit`` at a time from ``offset``."""
    where = BookFilter(q=q, author=author, language=language, subject=subject, year_from=year_from,
                       year_to=year_to)
    items, total = await catalogue.search(where, limit=limit, offset=offset)
    return BookPage(items=items, total=total, limit=limit, offset=offset)


@router.get("/books/{book_id}", responses={404: {"description": "no such book"}})
async def read_book(book: Annotated[Book, Depends(get_book)]) -> Book:
    """One book of the catalogue."""
    return book


@titles_router.get("/titles")
async def search_titles(request: Request, contains: Annotated[str, Query(min_length=1, max_length=100)]) -> list[TitleMatch]:
    """Every book whose title contains ``contains`` (any case): ids and titles only, in id order."""
    search = request.app.state.parts["search_titles"]   # lesson 04's exercise: a replaceable part
    return await search(request.app.state.db, contains)
