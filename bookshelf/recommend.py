"""Similar books (lesson 05): plain CPU work, run in a worker thread so it never blocks the event loop.

``recommend_range`` recomputes the recommendations of a slice of the catalogue: pure-Python CPU work for a
process pool. It is defined here, in an importable module, because a process pool sends a function to its
workers by name: a function defined in a notebook cell cannot be found by a freshly started worker.
"""

from __future__ import annotations

import functools
from pathlib import Path

from .catalogue import load_books
from .models import Book
from .settings import DATA_FILE

__all__ = ["similarity", "similar_books", "catalogue_size", "recommend_range"]


def similarity(a: Book, b: Book) -> float:
    """Shared subjects over all subjects (Jaccard), plus a bonus for the same author or language."""
    sa, sb = set(a.subjects), set(b.subjects)
    score = len(sa & sb) / len(sa | sb) if sa | sb else 0.0
    if a.author == b.author:
        score += 0.5
    if a.language == b.language:
        score += 0.1
    return score


def similar_books(books: list[Book], book: Book, limit: int = 5) -> list[Book]:
    """The ``limit`` books most similar to ``book`` (ties broken by id), ``book`` itself excluded."""
    ranked = sorted((b for b in books if b.id != book.id), key=lambda b: (-similarity(book, b), b.id))
    return ranked[:limit]


@functools.lru_cache(maxsize=4)
def _books(path: str) -> tuple[Book, ...]:
    """The catalogue, read once per process (each worker of a process pool reads its own copy)."""
    return tuple(load_books(Path(path)))


def catalogue_size(books_file: Path | str = DATA_FILE) -> int:
    """How many books the catalogue file holds."""
    return len(_books(str(books_file)))


def recommend_range(start: int, stop: int, limit: int = 5,
                    books_file: Path | str = DATA_FILE) -> dict[int, list[int]]:
    """For each book at positions ``start:stop`` of the catalogue, the ids of its ``limit`` most similar books.

    Only two numbers travel to a worker process and only ids travel back; the worker reads the catalogue
    itself (once). The whole catalogue takes a few tenths of a second of pure-Python CPU work.
    """
    books = list(_books(str(books_file)))
    return {book.id: [b.id for b in similar_books(books, book, limit)] for book in books[start:stop]}
