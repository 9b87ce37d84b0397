"""The Pydantic models: what the API accepts and returns."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

__all__ = ["Book", "BookPage", "TitleMatch", "Status", "ShelfEntryIn", "ShelfEntryUpdate", "ShelfMove",
           "ShelfMoves", "ShelfEntry", "Rating", "Price", "BookDetails", "BookId", "MAX_ID"]

MAX_ID = 2**31 - 1  # ids beyond this are rejected with 422 instead of overflowing SQLite's integers


def json_integer(value: object) -> object:
    """Refuse ``true`` and ``"3"`` where the schema says integer (Pydantic's lax mode reads them as 1 and 3).

    ``3.0`` stays accepted: JSON Schema counts a number with no fractional part as an integer.
    """
    if isinstance(value, (bool, str)):
        raise ValueError(f"must be a JSON integer, not a {'boolean' if isinstance(value, bool) else 'string'}")
    return value


# The validator comes after Field: in that order the bounds still reach the JSON schema (minimum/maximum).
BookId = Annotated[int, Field(ge=1, le=MAX_ID, description="a book's id in the catalogue"),
                   BeforeValidator(json_integer)]
Note = Annotated[str, StringConstraints(max_length=500)]


class Book(BaseModel):
    """One title of the catalogue (seeded from ``data/books.csv``)."""

    id: int
    title: str
    author: str
    year: int = Field(description="year of first publication")
    language: str = Field(description="ISO 639-1 code of the original language")
    subjects: list[str]


class BookPage(BaseModel):
    """One page of the catalogue: ``items`` plus what is needed to ask for the next page."""

    items: list[Book]
    total: int = Field(description="books matching the filters, on all pages")
    limit: int
    offset: int


class TitleMatch(BaseModel):
    """One answer of ``GET /titles``: just enough for a search box's suggestions."""

    id: int
    title: str


class Status(str, Enum):
    """Where a book stands on the reading list."""

    want_to_read = "want_to_read"
    reading = "reading"
    read = "read"


class ShelfEntryIn(BaseModel):
    """Body of ``POST /shelf``: put a catalogue book on your shelf."""

    model_config = ConfigDict(extra="forbid")

    book_id: BookId
    status: Status = Status.want_to_read
    note: Note = ""


class ShelfEntryUpdate(BaseModel):
    """Body of ``PATCH /shelf/{book_id}``: change the status and/or the note."""

    model_config = ConfigDict(extra="forbid")

    status: Status | None = None
    note: Note | None = None


class ShelfMove(BaseModel):
    """One change of ``PATCH /shelf``: this book gets this status."""

    model_config = ConfigDict(extra="forbid")

    book_id: BookId
    status: Status


class ShelfMoves(BaseModel):
    """Body of ``PATCH /shelf``: several status changes, applied all together or not at all."""

    model_config = ConfigDict(extra="forbid")

    moves: list[ShelfMove] = Field(min_length=1, max_length=100)


class ShelfEntry(BaseModel):
    """A book on your shelf."""

    book_id: int
    title: str
    author: str
    status: Status
    note: str
    added_at: str = Field(description="UTC time, ISO 8601")


class Rating(BaseModel):
    """What the ratings service says about a book."""

    average: float = Field(ge=0, le=5)
    count: int = Field(ge=0)


class Price(BaseModel):
    """What the prices service says: the price of a print edition and whether it is in stock."""

    amount: float = Field(ge=0)
    currency: str
    in_stock: bool


class BookDetails(BaseModel):
    """A book enriched from the upstream services.

    A field an upstream could not provide holds its fallback (``None`` or a placeholder cover), and
    ``degraded`` names each upstream that failed and why, e.g. ``{"ratings": "timeout"}``.
    """

    book: Book
    rating: Rating | None
    price: Price | None
    cover_url: str
    degraded: dict[str, str] = Field(default_factory=dict)
