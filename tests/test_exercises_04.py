"""Lesson 04's checks pass correct answers and reject the typical wrong ones with a useful message."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import datetime, timezone

from bookshelf.db import Database, DuplicateEntry, NotOnShelf, UnknownBook, add_to_shelf, read_entry
from bookshelf.models import ShelfEntry, Status
from labkit.checks import CheckFailed, run_check
from labkit.exercises import lesson04
from labkit.standins import add_as_want_to_read, move_nothing, search_exact_case


# -- 04.search_titles --------------------------------------------------------------------------

async def search_escaped(db: Database, text: str) -> list[dict]:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    async with db.conn.execute("SELECT id, title FROM books WHERE title LIKE ? ESCAPE '\\' ORDER BY id",
                               (f"%{escaped}%",)) as cursor:
        return [{"id": row[0], "title": row[1]} for row in await cursor.fetchall()]


async def search_instr(db: Database, text: str) -> list[dict]:
    async with db.conn.execute("SELECT id, title FROM books WHERE instr(lower(title), lower(?)) > 0 ORDER BY id",
                               (text,)) as cursor:
        return [dict(row) for row in await cursor.fetchall()]


async def search_unescaped(db: Database, text: str) -> list[dict]:
    async with db.conn.execute("SELECT id, title FROM books WHERE title LIKE ? ORDER BY id",
                               (f"%{text}%",)) as cursor:
        return [dict(row) for row in await cursor.fetchall()]


async def search_fstring(db: Database, text: str) -> list[dict]:
    async with db.conn.execute(f"SELECT id, title FROM books WHERE title LIKE '%{text}%' ORDER BY id") as cursor:
        return [dict(row) for row in await cursor.fetchall()]


async def search_fstring_quotes_doubled(db: Database, text: str) -> list[dict]:
    """Hand-escaped: quotes doubled, LIKE's wildcards escaped. It finds the right books, and is still wrong."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_").replace("'", "''")
    sql = f"SELECT id, title FROM books WHERE title LIKE '%{escaped}%' ESCAPE '\\' ORDER BY id"
    async with db.conn.execute(sql) as cursor:
        return [dict(row) for row in await cursor.fetchall()]


async def search_execute_fetchall(db: Database, text: str) -> list[dict]:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    rows = await db.conn.execute_fetchall("SELECT id, title FROM books WHERE title LIKE ? ESCAPE '\\' ORDER BY id",
                                          (f"%{escaped}%",))
    return [{"id": row[0], "title": row[1]} for row in rows]


async def search_unordered(db: Database, text: str) -> list[dict]:
    return list(reversed(await search_escaped(db, text)))


def test_search_titles_accepts_escaped_like_and_instr():
    assert run_check("04.search_titles", {"search_titles": search_escaped}).passed
    assert run_check("04.search_titles", {"search_titles": search_instr}).passed
    assert run_check("04.search_titles", {"search_titles": search_execute_fetchall}).passed


def test_search_titles_rejects_values_in_the_sql_text_even_with_quotes_doubled():
    import asyncio as aio

    async def finds_the_right_books() -> bool:   # the hand-escaped version gives the right answers...
        db = await lesson04._fresh_db([lesson04._book(i, t) for i, t in lesson04.AWKWARD_TITLES.items()])
        try:
            for text, ids in lesson04.SEARCHES + [(attack, []) for attack in lesson04.INJECTIONS]:
                if [b["id"] for b in await search_fstring_quotes_doubled(db, text)] != ids:
                    return False
            return True
        finally:
            await db.close()

    assert aio.run(finds_the_right_books())
    result = run_check("04.search_titles", {"search_titles": search_fstring_quotes_doubled})   # ...and fails
    assert result.status == "failed" and "SQL injection" in result.message and "quokka" in result.message
    result = run_check("04.search_titles", {"search_titles": search_fstring})
    assert result.status == "failed" and "SQL injection" in result.message


def test_search_titles_rejects_wildcards_injection_and_order():
    result = run_check("04.search_titles", {"search_titles": search_unescaped})
    assert result.status == "failed" and "wildcards" in result.message
    result = run_check("04.search_titles", {"search_titles": search_fstring})
    assert not result.passed
    result = run_check("04.search_titles", {"search_titles": search_unordered})
    assert result.status == "failed" and "ORDER BY id" in result.message


# -- 04.add_to_shelf ---------------------------------------------------------------------------

async def add_without_lock(db: Database, book_id: int, status: Status = Status.want_to_read,
                           note: str = "") -> ShelfEntry:
    """Autocommit statements on the shared connection: they join whatever transaction is open."""
    async with db.conn.execute("SELECT 1 FROM books WHERE id = ?", (book_id,)) as cursor:
        if await cursor.fetchone() is None:
            raise UnknownBook(book_id)
    try:
        await db.conn.execute("INSERT INTO shelf (book_id, status, note, added_at) VALUES (?, ?, ?, ?)",
                              (book_id, Status(status).value, note, datetime.now(timezone.utc).isoformat()))
    except sqlite3.IntegrityError as exc:
        raise DuplicateEntry(book_id) from exc
    return await read_entry(db.conn, book_id)


async def add_raw_error(db: Database, book_id: int, status: Status = Status.want_to_read,
                        note: str = "") -> ShelfEntry:
    async with db.transaction() as conn:
        async with conn.execute("SELECT 1 FROM books WHERE id = ?", (book_id,)) as cursor:
            if await cursor.fetchone() is None:
                raise UnknownBook(book_id)
        await conn.execute("INSERT INTO shelf (book_id, status, note, added_at) VALUES (?, ?, ?, ?)",
                           (book_id, Status(status).value, note, "now"))
        return await read_entry(conn, book_id)


async def add_manual_begin(db: Database, book_id: int, status: Status = Status.want_to_read,
                           note: str = "") -> ShelfEntry:
    """BEGIN/COMMIT by hand, without the lock: concurrent calls collide."""
    await db.conn.execute("BEGIN")
    try:
        entry = await add_without_lock(db, book_id, status, note)
    except BaseException:
        await db.conn.execute("ROLLBACK")
        raise
    await db.conn.execute("COMMIT")
    return entry


def test_add_to_shelf_accepts_the_package_function():
    assert run_check("04.add_to_shelf", {"add_to_shelf": add_to_shelf}).passed


def test_add_to_shelf_rejects_unlocked_writes_raw_errors_and_manual_transactions():
    result = run_check("04.add_to_shelf", {"add_to_shelf": add_without_lock})
    assert result.status == "failed" and "rolled back" in result.message
    result = run_check("04.add_to_shelf", {"add_to_shelf": add_raw_error})
    assert result.status == "failed" and "DuplicateEntry" in result.message
    result = run_check("04.add_to_shelf", {"add_to_shelf": add_manual_begin})
    assert not result.passed


# -- 04.move_between_lists ---------------------------------------------------------------------

async def move_in_transaction(db: Database, moves: dict) -> list[ShelfEntry]:
    async with db.transaction() as conn:
        for book_id, status in moves.items():
            cursor = await conn.execute("UPDATE shelf SET status = ? WHERE book_id = ?",
                                        (Status(status).value, book_id))
            if cursor.rowcount == 0:
                raise NotOnShelf(book_id)
        return [await read_entry(conn, book_id) for book_id in moves]


async def move_autocommit(db: Database, moves: dict) -> list[ShelfEntry]:
    """Each UPDATE commits on its own: a later failure leaves the earlier ones."""
    for book_id, status in moves.items():
        cursor = await db.conn.execute("UPDATE shelf SET status = ? WHERE book_id = ?", (Status(status).value, book_id))
        if cursor.rowcount == 0:
            raise NotOnShelf(book_id)
    return [await read_entry(db.conn, book_id) for book_id in moves]


async def move_without_rollback(db: Database, moves: dict) -> list[ShelfEntry]:
    """BEGIN without ROLLBACK on failure: the connection stays inside the transaction."""
    await db.conn.execute("BEGIN")
    for book_id, status in moves.items():
        cursor = await db.conn.execute("UPDATE shelf SET status = ? WHERE book_id = ?",
                                       (Status(status).value, book_id))
        if cursor.rowcount == 0:
            raise NotOnShelf(book_id)
    await db.conn.execute("COMMIT")
    return [await read_entry(db.conn, book_id) for book_id in moves]


def test_move_between_lists_accepts_one_transaction():
    assert run_check("04.move_between_lists", {"move_between_lists": move_in_transaction}).passed


def test_move_between_lists_rejects_partial_changes():
    result = run_check("04.move_between_lists", {"move_between_lists": move_autocommit})
    assert result.status == "failed" and "left book(s) [3] changed" in result.message
    result = run_check("04.move_between_lists", {"move_between_lists": move_without_rollback})
    assert result.status == "failed"


# -- each check also runs the function in the app, over HTTP ----------------------------------------

def in_the_app(check, fn) -> str:
    """The message with which the HTTP part of a check fails ``fn`` ("" if it passes)."""
    try:
        asyncio.run(check(fn))
    except CheckFailed as exc:
        return str(exc)
    return ""


def test_the_http_parts_pass_the_answers():
    assert in_the_app(lesson04._check_search_titles_in_the_app, search_escaped) == ""
    assert in_the_app(lesson04._check_add_to_shelf_in_the_app, add_to_shelf) == ""
    assert in_the_app(lesson04._check_move_between_lists_in_the_app, move_in_transaction) == ""


def test_the_http_parts_fail_the_stand_ins_by_what_the_endpoint_answered():
    said = in_the_app(lesson04._check_search_titles_in_the_app, search_exact_case)
    assert "GET /titles?contains=pride answered 200 []" in said
    said = in_the_app(lesson04._check_add_to_shelf_in_the_app, add_as_want_to_read)
    assert "{book_id: 7, status: reading} answered 201" in said and '"status":"want_to_read"' in said
    said = in_the_app(lesson04._check_move_between_lists_in_the_app, move_nothing)
    assert "PATCH /shelf moving 12 to read" in said and "want_to_read" in said
    said = in_the_app(lesson04._check_move_between_lists_in_the_app, move_autocommit)
    assert "book 12 must still be 'read'" in said


def test_the_checks_fail_the_stand_ins():
    for exercise_id, name, stand_in in (("04.search_titles", "search_titles", search_exact_case),
                                        ("04.add_to_shelf", "add_to_shelf", add_as_want_to_read),
                                        ("04.move_between_lists", "move_between_lists", move_nothing)):
        result = run_check(exercise_id, {name: stand_in})
        assert result.status == "failed", (exercise_id, result)
