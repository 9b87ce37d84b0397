"""Similar books (lesson 05): plain CPU work, run in a worker thread so it never blocks the event loop."""

from __future__ import annotations

from .models import Book

__all__ = ["similarity", "similar_books"]


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
