"""Shelf (reading list) endpoints (lesson 04): create, list, read, update (one, or several at once) and delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Response

from ..db import DuplicateEntry, NotOnShelf, Shelf, UnknownBook
from ..deps import BookIdPath, get_shelf
from ..errors import StrictJSONRoute
from ..models import ShelfEntry, ShelfEntryIn, ShelfEntryUpdate, ShelfMoves, Status

router = APIRouter(prefix="/shelf", tags=["shelf"], route_class=StrictJSONRoute)
ShelfDep = Annotated[Shelf, Depends(get_shelf)]
NOT_ON_SHELF = {404: {"description": "that book is not on the shelf"}}


@router.post("", status_code=201,
             responses={404: {"description": "no such book"}, 409: {"description": "already on the shelf"}})
async def add_entry(entry: ShelfEntryIn, shelf: ShelfDep) -> ShelfEntry:
    """Put a catalogue book on your shelf."""
    try:
        return await shelf.add(entry.book_id, entry.status, entry.note)
    except UnknownBook:
        raise HTTPException(404, f"book {entry.book_id} not found") from None
    except DuplicateEntry:
        raise HTTPException(409, f"book {entry.book_id} is already on the shelf") from None


@router.get("")
async def list_entries(shelf: ShelfDep, status: Status | None = None) -> list[ShelfEntry]:
    """Everything on your shelf, oldest first; ``?status=reading`` shows only those."""
    return await shelf.entries(status)


@router.patch("", responses={404: {"description": "one of the books is not on the shelf: nothing changed"}})
async def move_entries(change: ShelfMoves, shelf: ShelfDep) -> list[ShelfEntry]:
    """Give several entries a new status in one go ("finished 12, started 7"): all of them, or none."""
    moves = {move.book_id: move.status for move in change.moves}
    try:
        return await shelf.move(moves)
    except NotOnShelf as exc:
        raise HTTPException(404, f"book {exc.args[0] if exc.args else '?'} is not on the shelf; "
                                 "nothing was changed") from None


@router.get("/{book_id}", responses=NOT_ON_SHELF)
async def read_entry(book_id: BookIdPath, shelf: ShelfDep) -> ShelfEntry:
    """One entry of your shelf."""
    try:
        return await shelf.get(book_id)
    except NotOnShelf:
        raise HTTPException(404, f"book {book_id} is not on the shelf") from None


@router.patch("/{book_id}", responses=NOT_ON_SHELF)
async def update_entry(book_id: BookIdPath, change: ShelfEntryUpdate, shelf: ShelfDep) -> ShelfEntry:
    """Change an entry's status and/or note."""
    try:
        return await shelf.update(book_id, change.status, change.note)
    except NotOnShelf:
        raise HTTPException(404, f"book {book_id} is not on the shelf") from None


@router.delete("/{book_id}", status_code=204, responses=NOT_ON_SHELF)
async def delete_entry(book_id: BookIdPath, shelf: ShelfDep) -> Response:
    """Take a book off your shelf."""
    try:
        await shelf.remove(book_id)
    except NotOnShelf:
        raise HTTPException(404, f"book {book_id} is not on the shelf") from None
    return Response(status_code=204)
