"""Stand-ins for lessons 04 and 05 (see the package docstring): not the answers, they do less.

Each one is safe to serve: it never changes data it should not, and never makes the app answer 500.
What each leaves out is what its exercise teaches, so the exercise's self-check fails it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, TypeVar

__all__ = ["search_exact_case", "add_as_want_to_read", "move_nothing", "run_inline"]

T = TypeVar("T")


async def search_exact_case(db: Any, text: str) -> list[dict[str, Any]]:
    """Lesson 04's ``search_titles`` reduced to a case-sensitive match: "pride" does not find "Pride"."""
    async with db.conn.execute("SELECT id, title FROM books WHERE instr(title, ?) > 0 ORDER BY id",
                               (text,)) as cursor:
        return [{"id": row[0], "title": row[1]} for row in await cursor.fetchall()]


async def add_as_want_to_read(db: Any, book_id: int, status: Any = "want_to_read", note: str = "") -> Any:
    """Lesson 04's ``add_to_shelf`` reduced to the plain case: every book goes in as want_to_read, with no note.

    A second add of a book still answers 409 and an unknown book 404, so lessons that test the shelf (08, 09)
    run on it; the status and the note you send are what it leaves out.
    """
    from bookshelf.db import DuplicateEntry, UnknownBook, read_entry

    added_at = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
    async with db.transaction() as conn:
        cursor = await conn.execute("INSERT OR IGNORE INTO shelf (book_id, status, note, added_at) "
                                    "SELECT id, 'want_to_read', '', ? FROM books WHERE id = ?", (added_at, book_id))
        if cursor.rowcount == 0:
            async with conn.execute("SELECT 1 FROM books WHERE id = ?", (book_id,)) as found:
                raise (DuplicateEntry(book_id) if await found.fetchone() else UnknownBook(book_id))
        return await read_entry(conn, book_id)


async def move_nothing(db: Any, moves: dict[int, Any]) -> list[Any]:
    """Lesson 04's ``move_between_lists`` reduced to reading the entries back: nothing moves."""
    from bookshelf.db import read_entry

    return [await read_entry(db.conn, book_id) for book_id in moves]


async def run_inline(fn: Callable[..., T], *args: Any) -> T:
    """Lesson 05's ``offload`` reduced to calling ``fn`` right here: it runs on, and blocks, the event loop."""
    return fn(*args)
