"""The catalogue: load the seed books, filter them, and the in-memory catalogue of lesson 03."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .models import Book

__all__ = ["load_books", "BookFilter", "Catalogue", "MemoryCatalogue"]


def load_books(path: Path) -> list[Book]:
    """Read the seed CSV (``id,title,author,year,language,subjects``; subjects split on ``;``)."""
    if not Path(path).exists():
        raise FileNotFoundError(f"seed data {path} is missing: set BOOKSHELF_BOOKS to the books CSV file")
    with open(path, newline="", encoding="utf-8") as f:
        return [
            Book(id=int(row["id"]), title=row["title"], author=row["author"], year=int(row["year"]),
                 language=row["language"], subjects=[s for s in row["subjects"].split(";") if s])
            for row in csv.DictReader(f)
        ]


@dataclass(frozen=True)
class BookFilter:
    """What ``GET /books`` can filter on; ``None`` means "any"."""

    q: str | None = None  # part of the title, any case
    author: str | None = None  # part of the author's name, any case
    language: str | None = None  # exact ISO 639-1 code
    subject: str | None = None  # exact subject, any case
    year_from: int | None = None
    year_to: int | None = None

    def matches(self, book: Book) -> bool:
        """True when ``book`` passes every filter that is set."""
        return ((self.q is None or self.q.casefold() in book.title.casefold())
                and (self.author is None or self.author.casefold() in book.author.casefold())
                and (self.language is None or self.language == book.language)
                and (self.subject is None
                     or self.subject.casefold() in (s.casefold() for s in book.subjects))
                and (self.year_from is None or book.year >= self.year_from)
                and (self.year_to is None or book.year <= self.year_to))


class Catalogue(Protocol):
    """What the catalogue routes need; lesson 03 keeps books in memory, lesson 04 in SQLite."""

    async def get(self, book_id: int) -> Book | None: ...

    async def search(self, where: BookFilter, *, limit: int, offset: int) -> tuple[list[Book], int]: ...


class MemoryCatalogue:
    """The seed books in a dict: lesson 03's catalogue, before there is a database."""

    def __init__(self, books: list[Book]) -> None:
        self._books = {book.id: book for book in books}

    async def get(self, book_id: int) -> Book | None:
        """The book with this id, or ``None``."""
        return self._books.get(book_id)

    async def search(self, where: BookFilter, *, limit: int, offset: int) -> tuple[list[Book], int]:
        """One page of matching books in id order, and how many match in total."""
        found = [book for book in self._books.values() if where.matches(book)]
        return found[offset:offset + limit], len(found)
